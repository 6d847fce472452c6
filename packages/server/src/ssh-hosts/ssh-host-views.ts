import type { SshHostView } from '@gpufleet/protocol';
import type { NodeRecord, SshHostRecord } from '../store/store.js';

const iso = (ms: number | null) => (ms === null ? null : new Date(ms).toISOString());

/** An SSH host as the API shows it: where, as whom, the pinned key and the contact state. Never a credential. */
export function sshHostView(host: SshHostRecord, node: NodeRecord, credentialKeyVersion: number): SshHostView {
  return {
    nodeId: host.nodeId,
    hostname: node.hostname,
    address: host.address,
    port: host.port,
    user: host.user,
    bastion: host.bastion === null ? null : `${host.bastion.user}@${host.bastion.address}:${host.bastion.port}`,
    loginKind: host.loginKind,
    hostKey:
      host.hostKey === null
        ? null
        : {
            algorithm: host.hostKey.algorithm,
            fingerprint: host.hostKey.fingerprint,
            pinnedAt: new Date(host.hostKey.pinnedAt).toISOString(),
            source: host.hostKey.source,
          },
    refusedHostKey:
      host.refusedHostKey === null
        ? null
        : {
            algorithm: host.refusedHostKey.algorithm,
            fingerprint: host.refusedHostKey.fingerprint,
            seenAt: new Date(host.refusedHostKey.seenAt).toISOString(),
          },
    reachable: host.unreachableSince === null && host.lastContactAt !== null,
    lastContactAt: iso(host.lastContactAt),
    lastError: host.lastError,
    factsAt: iso(host.factsAt),
    credentialKeyVersion,
  };
}
