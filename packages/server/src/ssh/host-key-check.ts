import { normalizeFingerprint } from './host-key-format.js';
import { type HostKeyPolicy, type SshHostKey, SshFailure } from './ssh-transport.js';

/**
 * Decides whether the key a host presented is the one the policy accepts, before any login.
 * Resolves with null to go on, or with the failure that names both keys. A first-use policy
 * waits for its `onFirstUse` (the caller stores the pin) before the login goes on.
 */
export async function checkHostKey(policy: HostKeyPolicy, presented: SshHostKey, where: string): Promise<SshFailure | null> {
  switch (policy.kind) {
    case 'pinned': {
      // The blob names its own algorithm (an RSA key is `ssh-rsa` whichever signature is used), so equal blobs mean equal keys.
      if (policy.key.publicKey === presented.publicKey) return null;
      return new SshFailure(
        'host-key-changed',
        `${where} presented host key ${presented.algorithm} ${presented.fingerprint}, but ${policy.key.algorithm} ${policy.key.fingerprint} is pinned: refused. If the host was reinstalled, check the new key and trust it again`,
        { expected: policy.key.fingerprint, presented },
      );
    }
    case 'fingerprint': {
      const expected = normalizeFingerprint(policy.fingerprint);
      if (expected === presented.fingerprint) return null;
      return new SshFailure(
        'host-key-mismatch',
        `${where} presented host key ${presented.algorithm} ${presented.fingerprint}, but the expected fingerprint is ${expected}: refused`,
        { expected, presented },
      );
    }
    case 'first-use':
      try {
        await policy.onFirstUse(presented);
        return null;
      } catch (err) {
        if (err instanceof SshFailure) return err;
        return new SshFailure('protocol', `${where}: cannot record its host key ${presented.fingerprint}: ${(err as Error).message}`);
      }
  }
}
