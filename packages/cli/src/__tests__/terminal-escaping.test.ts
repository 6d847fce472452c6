import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { runCli } from '../cli.js';
import { RunPrinter } from '../exec/run-printer.js';
import { renderTable, termSafe, termSafeOutput, termSafeText } from '../output.js';
import { captureIo } from '../testing/capture-io.js';
import { startFakeApi, type FakeApi } from '../testing/fake-api.js';
import { sampleGpu, sampleNode } from '../testing/sample-node.js';
import { renderNodeFrame } from '../views/top-frame.js';

/** Host-reported strings reach the terminal escaped; a command's own output only when it goes to a terminal. */

const ESC = '\u001b';
// Sets the window title, writes the clipboard (OSC 52), clears the screen, then fakes a row.
const EVIL_HOST = `gpu-01${ESC}]0;pwned\u0007${ESC}]52;c;cm0gLXJmIH4=\u0007${ESC}[2J\nfake-row READY`;
const NO_CONTROLS = /[\u0000-\u0008\u000b-\u001f\u007f-\u009f\u202a-\u202e\u2066-\u2069]/;

let api: FakeApi;
const evilNode = sampleNode({
  hostname: EVIL_HOST,
  labels: { hostname: EVIL_HOST, team: `ml\r\u202eevil` },
  gpus: [{ ...sampleGpu(0), name: `NVIDIA H100${ESC}[31m RED` }],
  toolFailures: [{ vendor: 'nvidia', tool: 'nvidia-smi', message: `failed${ESC}[1A${ESC}[Kok`, exitCode: 9 }],
});

beforeAll(async () => {
  api = await startFakeApi({
    'GET /api/v1/nodes': () => ({ body: { items: [evilNode], total: 1 } }),
    'GET /api/v1/nodes/gpu-01': () => ({ body: evilNode }),
    'POST /api/v1/nodes/gpu-01/gpus/0/cordon': () => ({ body: evilNode }),
    'POST /api/v1/nodes/gpu-01/health/clear': () => ({ body: { cleared: 1, node: evilNode } }),
    'GET /api/v1/nodes/bad': () => ({ status: 404, body: { error: { code: 'not_found', message: `no node ${ESC}]0;x\u0007named\nthat` } } }),
  });
});
afterAll(() => api.close());

async function run(argv: string[]) {
  const io = captureIo({ env: {}, columns: 200 });
  const code = await runCli([...argv, '--server', api.url, '--token', 'gft_test_secret'], io);
  return { code, stdout: io.stdout, stderr: io.stderr };
}

describe('termSafe', () => {
  it('escapes controls, escape sequences, newlines and bidi overrides', () => {
    expect(termSafe(`a${ESC}[2Jb`)).toBe('a\\x1b[2Jb');
    expect(termSafe('a\nb\r\tc')).toBe('a\\nb\\r\\tc');
    expect(termSafe('x\u009b31m\u007f\u0000')).toBe('x\\x9b31m\\x7f\\x00');
    expect(termSafe('abc\u202ecba\u2066')).toBe('abc\\u202ecba\\u2066');
    expect(termSafe('line\u2028sep')).toBe('line\\u2028sep');
  });

  it('leaves printable text alone, Unicode included', () => {
    for (const s of ['sim-h100-001', '31°C', '████░░ 50%', 'GPU 東京-1', 'ok … done', '']) expect(termSafe(s)).toBe(s);
  });

  it('keeps the newlines of composed text only', () => {
    expect(termSafeText(`a\n\tb${ESC}[Kc\r`)).toBe('a\n\tb\\x1b[Kc\\r');
  });

  it('passes a command output raw off a terminal; on one keeps colors and escapes the rest', () => {
    const body = `${ESC}[32mgreen${ESC}[0m\ttab ${ESC}]52;c;Zm9v\u0007 ${ESC}[2J done\r`;
    expect(termSafeOutput(body, false)).toBe(body);
    expect(termSafeOutput(body, true)).toBe(`${ESC}[32mgreen${ESC}[0m\ttab \\x1b]52;c;Zm9v\\x07 \\x1b[2J done\\r`);
    // An unfinished or over-long SGR is not a color.
    expect(termSafeOutput(`${ESC}[31`, true)).toBe('\\x1b[31');
    expect(termSafeOutput(`${ESC}[${'1;'.repeat(40)}m`, true)).toMatch(/^\\x1b\[/);
  });
});

describe('host-reported strings in tables, details and errors', () => {
  it('a table keeps one row per node and prints no control character', () => {
    const text = renderTable(
      [
        { header: 'NAME', get: (n: { h: string }) => n.h },
        { header: 'STATUS', get: () => 'READY' },
      ],
      [{ h: EVIL_HOST }],
    );
    expect(text.trimEnd().split('\n')).toHaveLength(2);
    expect(text).not.toMatch(NO_CONTROLS);
    expect(text).toContain('gpu-01\\x1b]0;pwned\\x07');
  });

  it('`nodes ls` and `nodes get` escape hostname, labels, GPU name and tool failures', async () => {
    const ls = await run(['nodes', 'ls', '-o', 'wide']);
    expect(ls.code).toBe(0);
    expect(ls.stdout).not.toMatch(NO_CONTROLS);
    expect(ls.stdout).not.toMatch(/^fake-row/m);
    const get = await run(['nodes', 'get', 'gpu-01', '-o', 'wide']);
    expect(get.code).toBe(0);
    expect(get.stdout).not.toMatch(NO_CONTROLS);
    expect(get.stdout).not.toMatch(/^fake-row/m);
    expect(get.stdout).toMatch(/^Name: +gpu-01\\x1b\]0;pwned\\x07.*\\nfake-row READY$/m);
    expect(get.stdout).toContain('team=ml\\r\\u202eevil');
    expect(get.stdout).toContain('H100\\x1b[31m RED');
    expect(get.stdout).toContain('failed\\x1b[1A\\x1b[Kok');
  });

  it('json output stays exact JSON (its own escaping)', async () => {
    const r = await run(['nodes', 'get', 'gpu-01', '-o', 'json']);
    expect(JSON.parse(r.stdout).hostname).toBe(EVIL_HOST);
    expect(r.stdout).not.toContain(ESC);
  });

  it('an error message quoting host text is one escaped line', async () => {
    const r = await run(['nodes', 'get', 'bad']);
    expect(r.code).toBe(1);
    expect(r.stderr).toBe('error: no node \\x1b]0;x\\x07named that\n');
  });

  it('one-line confirmations escape the hostname too (gpus cordon, health clear)', async () => {
    const cordon = await run(['gpus', 'cordon', 'gpu-01/0', '--reason', 'test']);
    expect(cordon.code).toBe(0);
    expect(cordon.stdout).toMatch(/^GPU 0 of node gpu-01\\x1b\]0;pwned\\x07.* cordoned\n$/);
    const clear = await run(['health', 'clear', 'gpu-01', '--reason', 'test']);
    expect(clear.code).toBe(0);
    expect(clear.stdout).not.toMatch(NO_CONTROLS);
    expect(clear.stdout.trimEnd().split('\n')).toHaveLength(1);
  });

  it('`top NODE` escapes the hostname in its header', () => {
    const frame = renderNodeFrame(evilNode, { now: Date.now(), width: 160, height: 40, server: 'http://127.0.0.1:7420' });
    expect(frame).not.toMatch(NO_CONTROLS);
  });
});

describe('run output', () => {
  const chunk = (data: string, stream: 'stdout' | 'stderr' = 'stdout') => ({ nodeId: 'n1', stream, chunk: 0, data });

  it('escapes the host in the line prefix; the body is raw when piped', () => {
    const io = captureIo({ stdoutIsTty: false });
    const p = new RunPrinter(io, { progress: false, now: () => 0 });
    p.hostsAre([{ nodeId: 'n1', hostname: `h${ESC}[2J\nx`, state: 'running' }]);
    p.output(chunk(`raw ${ESC}]52;c;Zm9v\u0007 bytes\n`));
    expect(io.stdout).toBe(`h\\x1b[2J\\nx | raw ${ESC}]52;c;Zm9v\u0007 bytes\n`);
  });

  it('escapes the body on a terminal, colors kept, stderr judged by its own terminal', () => {
    const io = captureIo({ stdoutIsTty: true });
    io.stderrIsTty = false;
    const p = new RunPrinter(io, { progress: false, now: () => 0 });
    p.hostsAre([{ nodeId: 'n1', hostname: 'sim-h100-001', state: 'running' }]);
    p.output(chunk(`${ESC}[1mGPU 0${ESC}[0m ${ESC}]0;title\u0007\n`));
    p.output(chunk(`err ${ESC}[2J\n`, 'stderr'));
    expect(io.stdout).toBe(`sim-h100-001 | ${ESC}[1mGPU 0${ESC}[0m \\x1b]0;title\\x07\n`);
    expect(io.stderr).toBe(`sim-h100-001 | err ${ESC}[2J\n`);
  });
});
