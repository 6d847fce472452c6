import { CredentialVault, masterKeysFrom } from '../ssh-hosts/credential-vault.js';
import { PromoteService, sessionUpAnywhere } from '../ssh-hosts/promote.js';
import type { SshHostChoices } from './ssh-host-services.js';
import { defineService, type AnyServiceDefinition } from './service-definition.js';
import { refs } from './refs.js';

/** `nodes promote` (issue 12): after the SSH hosts, the join tokens, and the gateway and session owners whose sessions it waits for. */
export function promoteServices(choices: Pick<SshHostChoices, 'masterKey' | 'env'>): AnyServiceDefinition[] {
  return [
    defineService({
      provides: refs.promote,
      deps: {
        config: refs.config,
        store: refs.store,
        registry: refs.registry,
        sshHosts: refs.sshHosts,
        transport: refs.sshTransport,
        joinTokens: refs.joinTokens,
        gateway: refs.gateway,
        owners: refs.sessionOwners,
        clock: refs.clock,
        log: refs.log,
      },
      init: ({ config, store, registry, sshHosts, transport, joinTokens, gateway, owners, clock, log }) =>
        new PromoteService({
          store,
          registry,
          hosts: sshHosts,
          // The same master keys as the SSH hosts service: it opens the node key that service sealed.
          vault: new CredentialVault(masterKeysFrom(choices.env, choices.masterKey)),
          transport,
          joinTokens,
          // The agent may connect to another replica than this one (issue 13).
          sessionUp: sessionUpAnywhere(gateway, owners),
          clock,
          log,
          settings: { agentCommand: config.promoteAgentCommand, dataDir: config.promoteDataDir, installCommand: config.agentInstallCommand },
        }),
    }),
  ];
}
