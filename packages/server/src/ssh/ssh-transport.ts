/**
 * SSH from the control plane to hosts without an agent (issue 12), one interface for every
 * caller: the job center's fact collection, `nodes add`, `nodes promote`, the ssh-exec
 * benchmark. The implementation (ssh-pool.ts) keeps a connection per host, bounded in number,
 * with keepalive, timeouts and an optional jump host, and checks host keys before any login.
 */

/** How to log in; opened from the credential vault only for the connection, never logged. */
export type SshLogin = { kind: 'key'; privateKey: string; passphrase: string | null } | { kind: 'password'; password: string };

/** A host key as OpenSSH shows and stores it. */
export interface SshHostKey {
  /** `ssh-ed25519`, `ecdsa-sha2-nistp256`, `rsa-sha2-512`/`ssh-rsa` ... */
  algorithm: string;
  /** `SHA256:` + base64 without padding, as `ssh-keygen -lf` prints. */
  fingerprint: string;
  /** The key blob, base64: what a known_hosts line holds (ansible-playbook gets one per run). */
  publicKey: string;
}

/**
 * What the caller accepts: exactly a pinned key, a given fingerprint (an operator typed it), or
 * the first key seen (trust on first use: the caller stores what `onFirstUse` receives before
 * the login goes on). Never "anything".
 */
export type HostKeyPolicy =
  | { kind: 'pinned'; key: SshHostKey }
  | { kind: 'fingerprint'; fingerprint: string }
  | { kind: 'first-use'; onFirstUse: (key: SshHostKey) => Promise<void> };

export interface SshEndpoint {
  /** For messages and the pool's key: the node's hostname. */
  name: string;
  address: string;
  port: number;
  user: string;
  login: SshLogin;
  hostKey: HostKeyPolicy;
  /** A jump host: the connection to the target runs through it (direct-tcpip). */
  bastion: { address: string; port: number; user: string; login: SshLogin; hostKey: HostKeyPolicy } | null;
}

export interface SshExecOptions {
  timeoutMs: number;
  stdin?: string;
  /** Output kept per stream (default 1 MiB); more is cut with a note. */
  maxOutputBytes?: number;
  /** Live output, as it arrives. */
  onStdout?: (chunk: string) => void;
  onStderr?: (chunk: string) => void;
  signal?: AbortSignal;
}

export interface SshExecResult {
  /** Exit status; null when the command ended by a signal. */
  code: number | null;
  signal: string | null;
  stdout: string;
  stderr: string;
  durationMs: number;
}

/** Every way talking to a host can fail, one closed list; the message says which host and why, never a secret. */
export const SSH_FAILURE_KINDS = ['unreachable', 'timeout', 'auth', 'host-key-changed', 'host-key-mismatch', 'protocol', 'canceled'] as const;
export type SshFailureKind = (typeof SSH_FAILURE_KINDS)[number];

export class SshFailure extends Error {
  override readonly name = 'SshFailure';
  constructor(
    readonly kind: SshFailureKind,
    message: string,
    /** For host-key-changed / host-key-mismatch: what was expected and what the host presented. */
    readonly hostKey?: { expected: string; presented: SshHostKey },
  ) {
    super(message);
  }
}

export interface SshTransport {
  /** Runs one command (through `sh -c` on the host's login shell) and resolves with its result; a non-zero exit is a result, not a failure. */
  exec(endpoint: SshEndpoint, command: string, options: SshExecOptions): Promise<SshExecResult>;
  /** Connects (or reuses the open connection) and returns the host key the host presented. */
  probe(endpoint: SshEndpoint, timeoutMs: number): Promise<SshHostKey>;
  /** Closes the pooled connection of one host (its key or login changed). */
  forget(name: string): void;
  /** Closes every connection. */
  close(): Promise<void>;
}
