import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type { Command } from 'commander';
import { runCli } from './cli.js';
import { createDeps } from './command-deps.js';
import { buildProgram } from './program.js';
import { captureIo } from './testing/capture-io.js';
import { startFakeApi, type FakeApi } from './testing/fake-api.js';

let dir: string;
let api: FakeApi;

beforeAll(async () => {
  dir = mkdtempSync(join(tmpdir(), 'gpufleet-cli-'));
  // Any request reaching it is recorded: usage errors must be caught before one is sent.
  api = await startFakeApi({ 'GET /api/v1/nodes': () => ({ body: { items: [], total: 0 } }) });
});

afterAll(async () => {
  await api.close();
  rmSync(dir, { recursive: true, force: true });
});

async function run(argv: string[]) {
  const io = captureIo({ env: { XDG_CONFIG_HOME: join(dir, 'config') }, cwd: dir, columns: 100 });
  const before = api.requests.length;
  const code = await runCli(argv, io);
  return { code, stdout: io.stdout, stderr: io.stderr, requests: api.requests.length - before };
}

const conn = () => ['--server', api.url, '--token', 'gft_test_secret'];

describe('usage errors: exit code 2, one line, no request sent', () => {
  const cases: [string, string[], RegExp][] = [
    ['unknown flag', ['nodes', 'ls', '--frobnicate'], /unknown option '--frobnicate'/],
    ['bad -o value', ['-o', 'xml', 'nodes', 'ls'], /argument 'xml' is invalid.*table, wide, json, yaml/],
    ['bad -o value after the subcommand', ['nodes', 'ls', '-o', 'csv'], /'csv' is invalid/],
    ['bad selector', ['nodes', 'ls', '-l', 'gpu.model=H100,(oops'], /bad label selector/],
    ['bad selector key', ['gpus', 'ls', '-l', 'bad key=1'], /bad label selector/],
    ['bad status', ['nodes', 'ls', '--status', 'sleeping'], /status 'sleeping' is not one of PENDING/],
    ['bad --limit', ['nodes', 'ls', '--limit', 'lots'], /--limit 'lots' must be a whole number/],
    ['unknown command', ['nodez', 'ls'], /unknown command 'nodez'/],
    ['missing argument', ['nodes', 'get'], /missing required argument 'ref'/],
    ['bad label word', ['nodes', 'label', 'n1', 'justakey'], /neither key=value .* nor key-/],
    ['bad label value', ['nodes', 'label', 'n1', 'k=has space'], /not a valid label value/],
    ['bad --expires', ['tokens', 'create', '--expires', 'tomorrow'], /--expires 'tomorrow' is not a duration/],
    ['label without =', ['tokens', 'create', '--labels', 'region=eu,oops'], /label 'oops' must be key=value/],
    ['excess arguments', ['gpus', 'ls', 'extra'], /too many arguments/],
    ['bad role', ['api-tokens', 'create', '--name', 'x', '--role', 'root'], /'root' is invalid/],
    ['join token given as API token', ['nodes', 'ls', '--server', 'http://127.0.0.1:1', '--token', 'gfj1.abc'], /that is a join token/],
    ['garbage server URL', ['nodes', 'ls', '--server', 'ftp://x', '--token', 'gft_a_b'], /must be an http/],
    ['unknown context', ['nodes', 'ls', '--context', 'nope'], /no context named 'nope'/],
    ['missing --from', ['diagnose', 'gpus', '--format', 'npu-smi'], /required option '--from <file>' not specified/],
    ['bad diagnose format', ['diagnose', 'gpus', '--format', 'nvidia-txt', '--from', '-'], /'nvidia-txt' is invalid/],
  ];
  it.each(cases)('%s', async (_name, argv, message) => {
    const r = await run([...argv, ...(argv.includes('--server') ? [] : conn())]);
    expect(r.code).toBe(2);
    expect(r.stderr).toMatch(/^error: /);
    expect(r.stderr.trimEnd().split('\n')).toHaveLength(1);
    expect(r.stderr).toMatch(message);
    expect(r.stdout).toBe('');
    expect(r.requests).toBe(0);
  });
});

describe('help and version', () => {
  it('prints help with examples and exits 0', async () => {
    for (const argv of [
      ['--help'],
      ['nodes', '--help'],
      ['nodes', 'ls', '--help'],
      ['tokens', 'create', '--help'],
      ['top', '--help'],
      ['diagnose', 'gpus', '--help'],
      ['server', '--help'],
      ['demo', '--help'],
      ['login', '--help'],
    ]) {
      const r = await run(argv);
      expect(r.code, argv.join(' ')).toBe(0);
      expect(r.stdout, argv.join(' ')).toMatch(/Usage: gpufleet/);
      expect(r.stdout, argv.join(' ')).toMatch(/Examples?:|Getting started:/);
      expect(r.stderr).toBe('');
    }
  });

  it('every command teaches with examples in its --help', async () => {
    const paths: string[][] = [];
    const walk = (cmd: Command, path: string[]) => {
      for (const sub of cmd.commands) {
        // `agent` hands --help to the agent's own command line.
        if (sub.name() === 'help' || sub.name() === 'agent') continue;
        paths.push([...path, sub.name()]);
        walk(sub, [...path, sub.name()]);
      }
    };
    walk(buildProgram(createDeps(captureIo())), []);
    expect(paths.length).toBeGreaterThan(25);
    for (const path of paths) {
      const r = await run([...path, '--help']);
      expect(r.code, path.join(' ')).toBe(0);
      expect(r.stdout, path.join(' ')).toMatch(/\nExamples:\n {2}\S/);
    }
  });

  it('shows help on stderr with exit code 2 for a group without its subcommand', async () => {
    const r = await run(['nodes']);
    expect(r.code).toBe(2);
    expect(r.stderr).toMatch(/Usage: gpufleet nodes/);
  });

  it('prints the version', async () => {
    const r = await run(['--version']);
    expect(r.code).toBe(0);
    expect(r.stdout.trim()).toMatch(/^\d+\.\d+\.\d+/);
  });
});

describe('a valid command line reaches the server', () => {
  it('passes the selector, status and global -o through', async () => {
    const r = await run(['nodes', 'ls', '-l', 'gpu.model = H100', '--status', 'ready', '-o', 'json', ...conn()]);
    expect(r.code).toBe(0);
    expect(JSON.parse(r.stdout)).toEqual({ items: [], total: 0 });
    const seen = api.requests.at(-1)!;
    expect(seen.query).toMatchObject({ selector: 'gpu.model=H100', status: 'READY' });
    expect(seen.headers.authorization).toBe('Bearer gft_test_secret');
  });

  it('reports a server-side failure with exit code 1', async () => {
    const r = await run(['nodes', 'get', 'ghost', ...conn()]);
    expect(r.code).toBe(1);
    expect(r.stderr).toBe('error: no route GET /api/v1/nodes/ghost\n');
  });
});
