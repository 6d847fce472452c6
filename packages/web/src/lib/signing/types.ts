import type { Capability, CommandPayload, CommandSpec, JobPayload, JobSpec, SignedCommand, SignedJob } from '@gpufleet/protocol';

/**
 * What the dashboard asks of the operator's key once it is unlocked in this tab. The private
 * key itself never leaves WebCrypto (a non-extractable CryptoKey): pages get only this.
 *
 * Never sign on the operator's behalf: every call to sign(), signDraft() or signJob() must
 * follow an explicit click on a preview that shows what will be signed (target or job spec,
 * command, ability, invoker, capability expiry). No signing on page load, on a timer, or on a
 * retry loop.
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
  /**
   * The payload sign() would sign, not signed: for a preview that shows the exact JSON. Throws
   * an Error naming the problem when the request cannot be signed (bad selector, empty command...).
   */
  draft(req: SignRequest): CommandPayload;
  /** Signs exactly this payload (a draft the operator saw); refuses one whose invoker is another key. */
  signDraft(payload: CommandPayload): Promise<SignedCommand>;
  /**
   * The job payload signJob() would sign (fresh nonce, issued now) for a normalized job spec,
   * not signed: for the preview. Throws an Error naming the problem when it cannot be signed.
   */
  draftJob(spec: JobSpec): JobPayload;
  /** Signs exactly this job payload (a draft the operator saw); refuses one whose invoker is another key. */
  signJob(payload: JobPayload): Promise<SignedJob>;
}
