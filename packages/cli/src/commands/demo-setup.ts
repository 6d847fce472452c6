import { existsSync } from 'node:fs';
import { join } from 'node:path';
import type { ApiClient } from '../api-client.js';
import { createOperatorKey, loadOperatorKey, type OperatorKey } from '../keys/index.js';
import type { CliIo } from '../io.js';
import { termSafe } from '../output.js';
import { SIM_CONTROL_FILE } from './sim-inject.js';

/** The demo's operator key: a file in the demo data dir, unencrypted, for the demo fleet only. */
export const DEMO_KEY_NAME = 'demo-operator';

/** What ensureDemoRoot found or made. */
export interface DemoRoot {
  key: OperatorKey;
  /** Whether the key is a root of the fleet (false: the fleet had other roots already). */
  isRoot: boolean;
  /** Whether this start made the key (false: an earlier demo run on this data dir did). */
  created: boolean;
  roots: string[];
}

/**
 * Makes the demo fleet one where signed commands work from the first try: an operator key in
 * the data dir and that key as the fleet's first root, set before any host enrolls, so every
 * join token (and so every host) carries it. A data dir from an earlier run keeps its key and
 * root. A fleet with other roots already is left alone (isRoot false).
 */
export async function ensureDemoRoot(client: ApiClient, dataDir: string, now: number): Promise<DemoRoot> {
  const loc = { dir: dataDir };
  const created = !existsSync(join(dataDir, `${DEMO_KEY_NAME}.key`));
  // Unencrypted on purpose: the demo must sign without a prompt. Its file mode (0600) guards it.
  const key = created ? createOperatorKey(DEMO_KEY_NAME, { ...loc, passphrase: null, now }) : loadOperatorKey(DEMO_KEY_NAME, loc);
  const current = await client.get<{ roots?: string[] }>('/api/v1/roots');
  let roots = Array.isArray(current?.roots) ? current.roots : [];
  if (roots.length === 0) {
    const made = await client.post<{ roots?: string[] }>('/api/v1/roots/init', { did: key.did });
    roots = Array.isArray(made?.roots) ? made.roots : [key.did];
  }
  return { key, isRoot: roots.includes(key.did), created, roots };
}

/** `./gpufleet-data/demo-operator.key`: a path as the user types it, with a slash so --key reads it as a file. */
export function shownPath(cwdRelative: string): string {
  return cwdRelative.startsWith('/') || cwdRelative.startsWith('.') ? cwdRelative : `./${cwdRelative}`;
}

/** The lines the demo banner adds about signing commands and injecting faults. */
export function demoTryLines(d: {
  keyArg: string | null;
  root: DemoRoot | null;
  nvidiaHost: string | null;
  dataDirArg: string | null;
  faultsEveryMs: number | null;
}): string {
  let text = '';
  if (d.root && d.keyArg) {
    if (d.root.isRoot) {
      text += `Signed commands (the demo's operator key is a fleet root; unencrypted, for this demo only):\n\n`;
      text += `  npx gpufleet exec -l gpu.vendor=nvidia,simulated=true --key ${d.keyArg} -- nvidia-smi -L\n`;
      text += `  npx gpufleet exec -l gpu.model=H100 --key ${d.keyArg} --sh 'nvidia-smi | head -n 12'\n\n`;
      text += 'GPU workloads (a signed job placed on simulated GPUs; the job files are in examples/jobs):\n\n';
      text += `  npx gpufleet jobs run examples/jobs/llama.yaml --key ${d.keyArg}\n`;
      text += '  npx gpufleet jobs status llama\n';
      if (d.nvidiaHost) text += '  npx gpufleet sim inject llama/web-0 xid 79    web-0 moves to another GPU\n';
      text += '\n';
    } else {
      text += `This fleet has roots from an earlier setup (${d.root.roots.map(termSafe).join(', ')}): sign with one of their keys.\n\n`;
    }
  }
  if (d.nvidiaHost) {
    const dir = d.dataDirArg ? ` --data-dir ${d.dataDirArg}` : '';
    text += 'Health at work (faults on simulated hosts):\n\n';
    text += `  npx gpufleet sim inject ${d.nvidiaHost} xid 79 --gpu 3${dir}    GPU 3: cordoned, alert firing\n`;
    text += `  npx gpufleet events --node ${d.nvidiaHost}\n`;
    text += '  npx gpufleet alerts ls\n';

    text += '\nPools (capacity that provisions itself and replaces a failing node, a new one first):\n\n';
    text += '  npx gpufleet pools apply examples/pools/sim.yaml    4..12 simulated H100 hosts, each joining with its own token\n';
    text += '  npx gpufleet pools get demo\n';

    if (d.faultsEveryMs !== null)
      text += `\nThe demo also injects a random fault about every ${Math.round(d.faultsEveryMs / 60_000) || 1} min (--no-faults turns that off).\n`;
    text += '\n';
  }
  return text;
}

/** Where the demo's simulated fleet keeps its parts in the data dir. */
export function demoSimPaths(dataDir: string): { kernelLogs: string; tools: string; control: string } {
  return { kernelLogs: join(dataDir, 'sim-kernel-logs'), tools: join(dataDir, 'sim-tools'), control: join(dataDir, SIM_CONTROL_FILE) };
}

/** A line on stderr for each fault the demo injects by itself. */
export function faultLine(io: CliIo, r: { hostname: string; summary: string }): void {
  io.err(`demo: fault on ${termSafe(r.hostname)}: ${termSafe(r.summary)} (gpufleet events --node ${termSafe(r.hostname)})\n`);
}
