import { FleetError } from '@gpufleet/protocol';
import type { SshCredentialRecord, SshHostRecord } from '../store/store.js';
import { SshFailure, type HostKeyPolicy, type SshEndpoint, type SshHostKey, type SshTransport } from '../ssh/ssh-transport.js';
import type { CredentialVault } from './credential-vault.js';
import { factsScript, splitSections } from './facts-script.js';
import { factsFromSections, type RemoteFacts } from './remote-facts.js';

/** Longest one fact collection may take over SSH (vendor tools on a big host take seconds). */
export const FACTS_TIMEOUT_MS = 60_000;

/** The endpoint of a stored host: its logins opened from the vault, its keys pinned (or the given policy). */
export function endpointOf(
  name: string,
  host: SshHostRecord,
  credentials: SshCredentialRecord[],
  vault: CredentialVault,
  policies: { host?: HostKeyPolicy; bastion?: HostKeyPolicy } = {},
): SshEndpoint {
  const login = credentials.find((c) => c.purpose === 'login');
  if (!login) throw new FleetError('failed_precondition', `SSH host ${name} has no stored login`);
  const hostKey = policies.host ?? pinnedPolicy(name, host.hostKey);
  let bastion: SshEndpoint['bastion'] = null;
  if (host.bastion !== null) {
    const bastionLogin = credentials.find((c) => c.purpose === 'bastion');
    if (!bastionLogin) throw new FleetError('failed_precondition', `SSH host ${name} has a jump host but no stored login for it`);
    bastion = {
      ...host.bastion,
      login: vault.openLogin(bastionLogin),
      hostKey: policies.bastion ?? pinnedPolicy(`the jump host of ${name}`, host.bastionHostKey),
    };
  }
  return { name, address: host.address, port: host.port, user: host.user, login: vault.openLogin(login), hostKey, bastion };
}

function pinnedPolicy(name: string, key: SshHostRecord['hostKey']): HostKeyPolicy {
  if (key === null) throw new FleetError('failed_precondition', `${name} has no pinned host key yet`);
  return { kind: 'pinned', key: { algorithm: key.algorithm, fingerprint: key.fingerprint, publicKey: key.publicKey } };
}

/** Runs the facts script over SSH and reads its output with the agent's parsers. */
export async function collectRemoteFacts(transport: SshTransport, endpoint: SshEndpoint, now: () => number): Promise<RemoteFacts> {
  const { script, nonce } = factsScript();
  const result = await transport.exec(endpoint, 'sh -s', { timeoutMs: FACTS_TIMEOUT_MS, stdin: script, maxOutputBytes: 16 * 1024 * 1024 });
  const { sections, complete } = splitSections(result.stdout, nonce);
  if (!complete) {
    const why = result.stderr.trim().split('\n').slice(-3).join(' ').slice(0, 300);
    throw new FleetError('unavailable', `fact collection on ${endpoint.name} ended early (exit ${result.code ?? result.signal})${why ? `: ${why}` : ''}`);
  }
  return factsFromSections(sections, now());
}

/** What a failed contact means for the record: the message, and a refused key when the host key changed. */
export function describeFailure(
  name: string,
  err: unknown,
  pinned: SshHostRecord['hostKey'],
): { message: string; refused: SshHostKey | null; code: 'unavailable' | 'failed_precondition' | 'permission_denied' } {
  if (err instanceof SshFailure) {
    if ((err.kind === 'host-key-changed' || err.kind === 'host-key-mismatch') && err.hostKey) {
      const presented = err.hostKey.presented;
      const expected = pinned?.fingerprint ?? err.hostKey.expected;
      return {
        message:
          `host key of ${name} changed: pinned ${expected}, presented ${presented.fingerprint} (${presented.algorithm}); refused. ` +
          `If the host was reinstalled, accept it with: gpufleet nodes trust-hostkey ${name} --fingerprint ${presented.fingerprint} --reason "..."`,
        refused: presented,
        code: 'failed_precondition',
      };
    }
    return { message: err.message, refused: null, code: err.kind === 'auth' ? 'failed_precondition' : 'unavailable' };
  }
  if (err instanceof FleetError)
    return { message: err.message, refused: null, code: err.code === 'failed_precondition' ? 'failed_precondition' : 'unavailable' };
  return { message: `contact with ${name} failed: ${err instanceof Error ? err.message : String(err)}`, refused: null, code: 'unavailable' };
}
