import { ReleaseRepository } from '../releases/release-repository.js';
import { masterKeysFrom } from '../trust/master-keys.js';
import { Interval } from './interval.js';
import { defineService, type AnyServiceDefinition } from './service-definition.js';
import { refs } from './refs.js';

/** How often the timer looks at the timestamp's expiry; it re-signs only when one is due. */
const REFRESH_CHECK_MS = 10 * 60_000;

/**
 * Signed releases (issue 14): the TUF repository, and a timer that signs a fresh timestamp
 * before the current one expires (once at start too: a server that was down for a day must
 * not leave agents refusing an expired timestamp until the first tick).
 */
export function releaseServices(choices: {
  /** GPUFLEET_MASTER_KEY (or StartOptions.masterKey): the online keys are sealed with it; null refuses them. */
  masterKey: string | null;
  /** GPUFLEET_MASTER_KEY_VERSION and GPUFLEET_MASTER_KEY_PREVIOUS come from here. */
  env: Record<string, string | undefined>;
}): AnyServiceDefinition[] {
  return [
    defineService({
      provides: refs.releases,
      deps: { store: refs.store, clock: refs.clock, log: refs.log },
      init: ({ store, clock, log }) => new ReleaseRepository({ store, clock, keys: masterKeysFrom(choices.env, choices.masterKey), log }),
    }),
    defineService({
      provides: refs.releaseRefresh,
      deps: { releases: refs.releases, audit: refs.audit, log: refs.log },
      init: ({ releases, audit, log }) => {
        const refresh = () => releases.refresh(audit.as('system'));
        const timer = new Interval({ name: 'release timestamp refresh', everyMs: REFRESH_CHECK_MS, work: refresh, log });
        return {
          async start() {
            await refresh().catch((err: Error) => log.warn({ err: err.message }, 'release timestamp refresh failed'));
            timer.start();
          },
          stop: () => timer.stop(),
        };
      },
      start: (t) => t.start(),
      stop: (t) => t.stop(),
    }),
  ];
}
