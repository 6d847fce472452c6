import type { Capability, CommandPayload } from '@gpufleet/protocol';
import type { UnlockedKey } from './key-file.js';
import { draftJobPayload, signJobPayload } from './job-payload.js';
import { draftPayload, signPayload } from './payload.js';
import type { BrowserSigner } from './types.js';

/** A signer and the switch that disables it for good. */
export interface RevocableSigner {
  signer: BrowserSigner;
  /** Drops the key: every later call of this signer throws, even through a reference kept elsewhere. */
  forget(): void;
  /** A signer over the same key presenting another capability (null: as a fleet root); absent on test doubles. */
  withCapability?(capability: Capability | null): RevocableSigner;
}

/** The BrowserSigner over an unlocked key and the capability it presents (null: a fleet root). */
export function createBrowserSigner(key: UnlockedKey, capability: Capability | null, clock: () => number = Date.now): RevocableSigner {
  let privateKey: CryptoKey | null = key.privateKey;
  const did = key.did;
  const usable = (): CryptoKey => {
    if (!privateKey) throw new Error('the signing key was forgotten in this tab: unlock it again on the Signing key page');
    return privateKey;
  };
  const signer: BrowserSigner = {
    did,
    keyName: key.name,
    capability,
    draft: (req) => draftPayload(req, did, capability, clock()),
    async signDraft(payload: CommandPayload) {
      const k = usable();
      if (payload.invoker !== did) throw new Error(`this payload is for ${payload.invoker}, not for the unlocked key ${did}`);
      return signPayload(k, payload);
    },
    async sign(req) {
      const k = usable();
      return signPayload(k, draftPayload(req, did, capability, clock()));
    },
    draftJob: (spec) => draftJobPayload(spec, did, capability, clock()),
    async signJob(payload) {
      const k = usable();
      if (payload.invoker !== did) throw new Error(`this job payload is for ${payload.invoker}, not for the unlocked key ${did}`);
      return signJobPayload(k, payload);
    },
  };
  return {
    signer,
    forget() {
      privateKey = null;
    },
    withCapability(next) {
      return createBrowserSigner({ ...key, privateKey: usable() }, next, clock);
    },
  };
}
