import { bundleContainerName, type BundleManifest } from '@gpufleet/protocol';
import type { BundleEngine } from './bundle-engine.js';

/**
 * Runs each container's health check (exec in the container): up to `retries` tries, `pauseMs`
 * apart, each ended after `timeoutSeconds`. Resolves with null when every check passed, or with
 * a sentence naming the first container that stayed unhealthy.
 */
export async function checkHealth(engine: BundleEngine, m: BundleManifest, pauseMs = 1000): Promise<string | null> {
  for (const c of m.containers) {
    if (!c.health) continue;
    const name = bundleContainerName(m.name, c.name);
    let last = '';
    for (let attempt = 1; attempt <= c.health.retries; attempt++) {
      if (attempt > 1) await new Promise((r) => setTimeout(r, pauseMs));
      try {
        const code = await engine.exec(name, c.health.command, c.health.timeoutSeconds * 1000);
        if (code === 0) {
          last = '';
          break;
        }
        last = code === null ? `did not answer within ${c.health.timeoutSeconds}s` : `exited with ${code}`;
      } catch (err) {
        last = (err as Error).message;
      }
    }
    if (last) return `the health check of ${name} (${c.health.command.join(' ').slice(0, 100)}) failed ${c.health.retries} time(s): ${last}`;
  }
  return null;
}
