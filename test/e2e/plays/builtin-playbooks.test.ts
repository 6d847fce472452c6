import { execFileSync } from 'node:child_process';
import { mkdtempSync, readdirSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type { PlayService } from '../../../packages/server/src/plays/play-service.js';
import { PLAYBOOKS, PlayKit, waitForEnd } from './play-kit.js';

/**
 * The built-in playbooks: each passes ansible-playbook --syntax-check, and the driver ones run in
 * --check mode through a play on a real sshd host (this machine's Debian). They need packages
 * and GPUs the host lacks, so the point is that each reaches the host and every variable it uses
 * is defined (defaults from index.yaml); where a play stops, it stops in a task that says why.
 */

/** Where each may stop on a host without the vendor's repositories, packages or GPUs: package and precondition tasks only. */
const MAY_STOP_IN: Record<string, string[]> = {
  install_nvidia_driver: ['Ubuntu driver package', 'Debian driver package', 'RHEL-like driver module', 'CUDA toolkit (apt)', 'CUDA toolkit (dnf)'],
  install_amd_driver: ['Only Ubuntu is supported by this template', 'amdgpu-install package'],
  install_intel_driver: ['Compute runtime (apt)', 'Compute runtime (dnf)', 'xpu-smi (apt)', 'xpu-smi (dnf)'],
  install_ascend_driver: ['Packages must be on the host'],
};
const DRIVERS = Object.keys(MAY_STOP_IN);

describe('built-in playbooks', { timeout: 60_000 }, () => {
  let kit: PlayKit;
  let plays: PlayService;

  beforeAll(async () => {
    kit = await PlayKit.start(['driver-host']);
    const templates = kit.templates();
    await templates.loadBuiltins();
    plays = kit.plays(templates, { graceMs: 2000 });
  }, 60_000);
  afterAll(async () => {
    await plays?.stop();
    await kit?.close();
  });

  it('every playbook in the index passes --syntax-check', () => {
    const files = readdirSync(PLAYBOOKS).filter((f) => f.endsWith('.yml'));
    expect(files).toHaveLength(8);
    const dir = mkdtempSync(join(tmpdir(), 'gpufleet-syntax-'));
    try {
      writeFileSync(join(dir, 'inventory'), 'localhost ansible_connection=local\n');
      for (const f of files) {
        const out = execFileSync('ansible-playbook', ['-i', join(dir, 'inventory'), '--syntax-check', join(PLAYBOOKS, f)], {
          env: { ...process.env, LC_ALL: 'C.UTF-8', ANSIBLE_LOCAL_TEMP: dir },
        }).toString();
        expect(out).toContain(`playbook: ${join(PLAYBOOKS, f)}`);
      }
    } finally {
      rmSync(dir, { recursive: true, force: true });
    }
  });

  it.each(DRIVERS)(
    '%s --check reaches the host with every variable defined',
    async (template) => {
      const started = await plays.start({ template, selector: 'driver-host', check: true }, kit.audit());
      const ended = await waitForEnd(plays, started.id, 120_000);
      const events = (await plays.events(started.id, 0, 10_000)).items;
      const failed = events.filter((e) => e.status === 'failed');
      expect(ended.hosts[0]!.state).not.toBe('unreachable');
      expect(ended.state === 'SUCCEEDED' || failed.length === 1).toBe(true);
      for (const e of failed) expect(MAY_STOP_IN[template]).toContain(e.task);
      // Gathering facts ran on the host: it is reached, not just planned.
      expect(events.some((e) => e.kind === 'host' && (e.status === 'ok' || e.status === 'changed'))).toBe(true);
      for (const e of events) expect(e.message).not.toMatch(/is undefined|undefined variable/);
    },
    150_000,
  );
});
