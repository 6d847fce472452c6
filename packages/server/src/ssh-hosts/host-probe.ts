import { randomBytes } from 'node:crypto';
import { FleetError, type AddSshHostRequest, type ProbeSshHostRequest, type ProbeSshHostResult } from '@gpufleet/protocol';
import type { SshEndpoint, SshHostKey, SshLogin, SshTransport } from '../ssh/ssh-transport.js';
import { describeFailure } from './host-contact.js';

/** A login as the request gives it, as the transport takes it. */
export const toLogin = (l: AddSshHostRequest['login']): SshLogin =>
  l.kind === 'key' ? { kind: 'key', privateKey: l.privateKey, passphrase: l.passphrase ?? null } : { kind: 'password', password: l.password };

/**
 * The key a host presents, before anything is stored (the dashboard shows it to confirm): the
 * first-use check sees it and ends the connection, so no login is ever tried.
 */
export async function probeHostKey(transport: SshTransport, req: ProbeSshHostRequest, timeoutMs: number): Promise<ProbeSshHostResult> {
  let presented: SshHostKey | null = null;
  const stop = new Error('probe: key seen');
  const endpoint: SshEndpoint = {
    name: `probe ${req.address}:${req.port}`,
    address: req.address,
    port: req.port,
    // Never used: the connection ends as soon as the key is seen, before any login.
    user: 'gpufleet-probe',
    login: { kind: 'password', password: randomBytes(16).toString('hex') },
    hostKey: {
      kind: 'first-use',
      onFirstUse: async (key) => {
        presented = key;
        throw stop;
      },
    },
    bastion: req.bastion
      ? {
          address: req.bastion.address,
          port: req.bastion.port,
          user: req.bastion.user,
          login: toLogin(req.bastion.login),
          hostKey: { kind: 'first-use', onFirstUse: async () => {} },
        }
      : null,
  };
  try {
    presented = await transport.probe(endpoint, timeoutMs);
  } catch (err) {
    if (presented === null) throw new FleetError('unavailable', `cannot probe ${req.address}:${req.port}: ${describeFailure(req.address, err, null).message}`);
  } finally {
    transport.forget(endpoint.name);
  }
  const key = presented as SshHostKey | null;
  if (key === null) throw new FleetError('unavailable', `${req.address}:${req.port} presented no host key`);
  return { hostKey: { algorithm: key.algorithm, fingerprint: key.fingerprint } };
}
