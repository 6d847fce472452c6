import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { describe, expect, it } from 'vitest';
import { MAX_TOOL_OUTPUT_BYTES, runTool } from './tool-runner.js';

describe('runTool', () => {
  it('reports a clean exit as ok with its output', async () => {
    expect(await runTool('true', [], { timeoutMs: 5000 })).toEqual({ kind: 'ok', stdout: '', stderr: '' });
    expect(await runTool('sh', ['-c', 'echo out; echo err >&2'], { timeoutMs: 5000 })).toEqual({
      kind: 'ok',
      stdout: 'out\n',
      stderr: 'err\n',
    });
  });

  it('reports a non-zero exit as failed with the exit code and the output', async () => {
    expect(await runTool('sh', ['-c', 'echo x; echo y >&2; exit 3'], { timeoutMs: 5000 })).toEqual({
      kind: 'failed',
      exitCode: 3,
      output: 'x\n\ny',
      timedOut: false,
    });
  });

  it('reports a command that is not installed as missing', async () => {
    expect(await runTool('gpufleet-no-such-tool-4f2a', ['-q'], { timeoutMs: 5000 })).toEqual({ kind: 'missing' });
    expect(await runTool('/nonexistent/dir/nvidia-smi', [], { timeoutMs: 5000 })).toEqual({ kind: 'missing' });
  });

  it('kills a tool that runs past its timeout', async () => {
    const started = Date.now();
    const result = await runTool('sleep', ['5'], { timeoutMs: 200 });
    expect(result).toMatchObject({ kind: 'failed', exitCode: null, timedOut: true });
    expect(Date.now() - started).toBeLessThan(3000);
  });

  it('passes arguments without a shell', async () => {
    const result = await runTool('printf', ['%s|', '$HOME', '; echo hacked', '`id`'], { timeoutMs: 5000 });
    expect(result).toEqual({ kind: 'ok', stdout: '$HOME|; echo hacked|`id`|', stderr: '' });
  });

  it('adds env entries to the inherited environment', async () => {
    const result = await runTool('sh', ['-c', 'echo "$GPUFLEET_X:${PATH:+has-path}"'], { timeoutMs: 5000, env: { GPUFLEET_X: '42' } });
    expect(result).toEqual({ kind: 'ok', stdout: '42:has-path\n', stderr: '' });
  });

  it('stops a tool whose output passes the limit', async () => {
    const result = await runTool('head', ['-c', String(MAX_TOOL_OUTPUT_BYTES + 1024), '/dev/zero'], { timeoutMs: 10_000 });
    expect(result.kind).toBe('failed');
    if (result.kind !== 'failed') return;
    expect(result.timedOut).toBe(false);
    expect(result.output).toContain(`output exceeded ${MAX_TOOL_OUTPUT_BYTES} bytes`);
  });

  it('reports a file that cannot be executed as failed, not missing', async () => {
    const dir = mkdtempSync(join(tmpdir(), 'gpufleet-tool-'));
    try {
      const file = join(dir, 'nvidia-smi');
      writeFileSync(file, '#!/bin/sh\necho hi\n', { mode: 0o644 });
      const result = await runTool(file, [], { timeoutMs: 5000 });
      expect(result).toMatchObject({ kind: 'failed', exitCode: null, timedOut: false });
      if (result.kind === 'failed') expect(result.output).toMatch(/EACCES/);
    } finally {
      rmSync(dir, { recursive: true, force: true });
    }
  });

  it('reports an argument it cannot pass (a NUL byte) as failed instead of throwing', async () => {
    const result = await runTool('echo', ['a\u0000b'], { timeoutMs: 5000 });
    expect(result).toMatchObject({ kind: 'failed', exitCode: null, timedOut: false });
  });
});
