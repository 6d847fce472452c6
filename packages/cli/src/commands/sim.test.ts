import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, describe, expect, it } from 'vitest';
import { runCli } from '../cli.js';
import { captureIo } from '../testing/capture-io.js';

const dir = mkdtempSync(join(tmpdir(), 'gpufleet-cli-sim-'));
afterAll(() => rmSync(dir, { recursive: true, force: true }));

function scenarioFile(name: string, text: string): string {
  const file = join(dir, name);
  writeFileSync(file, text);
  return file;
}

async function simRun(...args: string[]) {
  const io = captureIo({ columns: 200, cwd: dir });
  const code = await runCli(['sim', 'run', ...args], io);
  return { code, stdout: io.stdout, stderr: io.stderr };
}

describe('gpufleet sim run', () => {
  it('exits 2 for a file that is not a valid scenario, every problem on its own line with its line number', async () => {
    scenarioFile('bad.yaml', 'fleet: {nodes: 1}\nevents:\n  - {at: soon, inject: xid, host: sim-h100-001, gpu: 0, code: 79}\nassert: []\n');
    const r = await simRun('bad.yaml');
    expect(r.code).toBe(2);
    expect(r.stdout).toBe('');
    expect(r.stderr).toMatch(/bad\.yaml:3:\d+: events\[0\]\.at: 'soon' is not a duration/);
    expect(r.stderr).toMatch(/bad\.yaml:4:\d+: assert: a scenario needs at least one assertion/);
    expect(r.stderr).toMatch(/error: bad\.yaml is not a valid scenario/);
    const missing = await simRun('nope.yaml');
    expect(missing.code).toBe(2);
    expect(missing.stderr).toMatch(/cannot read scenario .*nope\.yaml: ENOENT/);
  });

  it('runs a scenario: exit 0 and the report when it passes, exit 1 and JSON with -o json when it fails', async () => {
    const pass = scenarioFile(
      'pass.yaml',
      `name: cli-pass
fleet: {nodes: 1, mix: {H100: 1}, seed: 2}
events:
  - {at: 200ms, inject: xid, host: sim-h100-001, gpu: 1, code: 48}
assert:
  - {within: 3s, expect: {node: sim-h100-001, gpu: 1, state: UNHEALTHY}}
`,
    );
    const ok = await simRun(pass, '-q');
    expect(ok.stderr).toBe('');
    expect(ok.code).toBe(0);
    expect(ok.stdout).toMatch(/^scenario cli-pass \(/);
    expect(ok.stdout).toMatch(/PASS {2}line 6: expect sim-h100-001 GPU 1 state UNHEALTHY within 3s/);
    expect(ok.stdout).toMatch(/result: PASS \(1 of 1 assertions passed\)/);

    const fail = scenarioFile(
      'fail.yaml',
      'name: cli-fail\nfleet: {nodes: 1, mix: {H100: 1}}\nassert:\n  - {within: 500ms, expect: {node: sim-h100-001, status: CORDONED}}\n',
    );
    const bad = await simRun(fail, '-o', 'json');
    expect(bad.code).toBe(1);
    const result = JSON.parse(bad.stdout) as { name: string; passed: boolean; assertions: Array<{ passed: boolean; seen: string; line: number }> };
    expect(result).toMatchObject({ name: 'cli-fail', passed: false });
    expect(result.assertions[0]).toMatchObject({ passed: false, line: 4 });
    expect(result.assertions[0]!.seen).toMatch(/status READY/);
    expect(bad.stderr).toMatch(/error: scenario cli-fail failed: 1 of 1 assertions failed/);
  }, 30_000);
});
