import { SshPool } from '../ssh/ssh-pool.js';
import type { SshTransport } from '../ssh/ssh-transport.js';
import { CredentialVault, masterKeysFrom } from '../ssh-hosts/credential-vault.js';
import { SshHostsService } from '../ssh-hosts/ssh-hosts-service.js';
import { defineService, type AnyServiceDefinition } from './service-definition.js';
import { refs } from './refs.js';

/** What the caller of serverGraph decides for SSH hosts (server.ts StartOptions). */
export interface SshHostChoices {
  /** GPUFLEET_MASTER_KEY (or StartOptions.masterKey): SSH credentials are sealed with it; null refuses to add hosts. */
  masterKey: string | null;
  /** GPUFLEET_MASTER_KEY_VERSION and GPUFLEET_MASTER_KEY_PREVIOUS come from here. */
  env: Record<string, string | undefined>;
  /** The SSH client; default an SshPool. */
  transport?: SshTransport;
}

/** The SSH transport and the SSH hosts service (issue 12): after the registry and the metrics pipeline they feed. */
export function sshHostServices(choices: SshHostChoices): AnyServiceDefinition[] {
  return [
    defineService({
      provides: refs.sshTransport,
      deps: {},
      init: () => choices.transport ?? new SshPool(),
      stop: (transport) => transport.close(),
    }),
    defineService({
      provides: refs.sshHosts,
      deps: {
        config: refs.config,
        store: refs.store,
        registry: refs.registry,
        transport: refs.sshTransport,
        metricsIngest: refs.metricsIngest,
        hub: refs.hub,
        clock: refs.clock,
        log: refs.log,
      },
      async init({ config, store, registry, transport, metricsIngest, hub, clock, log }) {
        const service = new SshHostsService({
          store,
          registry,
          transport,
          vault: new CredentialVault(masterKeysFrom(choices.env, choices.masterKey)),
          metrics: metricsIngest,
          hub,
          clock,
          log,
          factsIntervalMs: config.sshFactsIntervalMs,
        });
        await service.load();
        return service;
      },
      start: (service) => service.start(),
      stop: (service) => service.stop(),
    }),
  ];
}
