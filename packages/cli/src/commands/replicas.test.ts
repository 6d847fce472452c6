import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { startTestServer, type TestServer } from '../../../server/src/testing/test-server.js';
import { runCli } from '../cli.js';
import { captureIo } from '../testing/capture-io.js';

/** `gpufleet replicas ls` against a real control plane (the embedded one: a single replica). */
let t: TestServer;
beforeAll(async () => {
  t = await startTestServer({ replicaName: 'cp-test' });
});
afterAll(() => t.close());

async function cli(...args: string[]) {
  const io = captureIo({ columns: 120 });
  const code = await runCli([...args, '--server', t.url, '--token', t.adminToken], io);
  return { code, stdout: io.stdout, stderr: io.stderr };
}

describe('gpufleet replicas ls', () => {
  it('prints a table that fits the terminal, the answering replica marked', async () => {
    const r = await cli('replicas', 'ls');
    expect(r.code, r.stderr).toBe(0);
    const [header, row, ...rest] = r.stdout.trimEnd().split('\n');
    expect(header).toMatch(/^NAME\s+ADDRESS\s+UP SINCE\s+AGENTS\s+LEASES\s+LAST HEARTBEAT\s+VERSION$/);
    expect(row).toContain('cp-test *');
    expect(row).toContain(t.url);
    expect(row).toContain('alerts,retention,pools,scheduler');
    expect(rest).toEqual([]);
    for (const line of r.stdout.split('\n')) expect(line.length).toBeLessThanOrEqual(120);
  });

  it('gives JSON and YAML for scripts', async () => {
    const json = await cli('replicas', 'ls', '-o', 'json');
    expect(json.code, json.stderr).toBe(0);
    const parsed = JSON.parse(json.stdout) as { replicas: Array<{ name: string; self: boolean; agents: number }> };
    expect(parsed.replicas).toEqual([expect.objectContaining({ name: 'cp-test', self: true, agents: 0 })]);
    const yaml = await cli('replicas', 'list', '-o', 'yaml');
    expect(yaml.stdout).toMatch(/^replicas:\n\s+- name: cp-test$/m);
  });

  it('refuses garbage: an unknown subcommand or flag, a bad output format, a bad token', async () => {
    expect((await cli('replicas', 'rm', 'cp-test')).code).not.toBe(0);
    const flag = await cli('replicas', 'ls', '--all');
    expect(flag.code).not.toBe(0);
    expect(flag.stderr).toMatch(/unknown option '--all'/);
    const format = await cli('replicas', 'ls', '-o', 'xml');
    expect(format.code).not.toBe(0);
    const io = captureIo();
    expect(await runCli(['replicas', 'ls', '--server', t.url, '--token', 'gft_nope'], io)).not.toBe(0);
    expect(io.stderr).toMatch(/token|unauthenticated/i);
  });

  it('teaches with --help: what a replica is, and examples', async () => {
    const io = captureIo();
    await runCli(['replicas', 'ls', '--help'], io);
    expect(io.stdout).toMatch(/Examples:\n\s+gpufleet replicas ls/);
    expect(io.stdout).toMatch(/marked with \*/);
  });
});
