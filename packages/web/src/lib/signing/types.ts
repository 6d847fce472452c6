import type { Capability, CommandSpec, SignedCommand } from '@gpufleet/protocol';

/**
 * What the dashboard asks of the operator's key once it is unlocked in this tab. The private
 * key itself never leaves WebCrypto (a non-extractable CryptoKey): pages get only this.
 */
export interface SignRequest {
  command: CommandSpec;
  /** Label selector of the hosts meant (the CLI's syntax); each host checks it matches itself. */
  target: string;
  timeoutMs: number;
  env?: Record<string, string>;
  cwd?: string | null;
  runAs?: string | null;
}

export interface BrowserSigner {
  /** The key's did:key, checked against the key file's own `did` when it was unlocked. */
  readonly did: string;
  /** The key's name from its key file. */
  readonly keyName: string;
  /** The capability delegated to this key, or null when the key is itself a fleet root. */
  readonly capability: Capability | null;
  /** Builds the payload (fresh runId and nonce, issued now) and signs its canonical JSON. */
  sign(req: SignRequest): Promise<SignedCommand>;
}
