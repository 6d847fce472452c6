/**
 * SSH hosts as stored (issue 12, migration 0009): how to reach a node managed over SSH, the host
 * keys pinned for it and its contact state, and its sealed credentials. Times are epoch ms.
 * Credentials are only ever stored sealed (ssh-hosts/credential-vault.ts).
 */

export type HostKeySource = 'first-use' | 'given' | 'operator';

export interface PinnedHostKeyRecord {
  algorithm: string;
  fingerprint: string;
  /** The key blob, base64 (a known_hosts line's key). */
  publicKey: string;
  pinnedAt: number;
  source: HostKeySource;
}

export interface SshHostRecord {
  nodeId: string;
  address: string;
  port: number;
  user: string;
  loginKind: 'key' | 'password';
  bastion: { address: string; port: number; user: string } | null;
  hostKey: PinnedHostKeyRecord | null;
  bastionHostKey: PinnedHostKeyRecord | null;
  /** A different key the host presented, refused until an operator trusts it. */
  refusedHostKey: { algorithm: string; fingerprint: string; publicKey: string; seenAt: number } | null;
  lastContactAt: number | null;
  lastError: string | null;
  factsAt: number | null;
  /** Since when contacts fail; null while the last one succeeded. */
  unreachableSince: number | null;
  createdAt: number;
}

export type SshHostPatch = Partial<Omit<SshHostRecord, 'nodeId' | 'createdAt'>>;

export const SSH_CREDENTIAL_PURPOSES = ['login', 'bastion', 'node-key'] as const;
export type SshCredentialPurpose = (typeof SSH_CREDENTIAL_PURPOSES)[number];

export interface SshCredentialRecord {
  /** Also the associated data of the seal: a sealed value moved to another record does not open. */
  id: string;
  nodeId: string;
  purpose: SshCredentialPurpose;
  /** The master key version it is sealed under. */
  keyVersion: number;
  /** JSON of a SealedSecret. */
  sealed: string;
  createdAt: number;
  rotatedAt: number | null;
}

export interface SshHostStore {
  /** The host and its credentials in one transaction; already_exists when the node has one. */
  insertSshHost(host: SshHostRecord, credentials: ReadonlyArray<SshCredentialRecord>): Promise<void>;
  getSshHost(nodeId: string): Promise<SshHostRecord | undefined>;
  /** Oldest first. */
  listSshHosts(): Promise<SshHostRecord[]>;
  /** not_found when absent. */
  updateSshHost(nodeId: string, patch: SshHostPatch): Promise<void>;
  /** Deletes the host and its credentials; false when there was none. */
  deleteSshHost(nodeId: string): Promise<boolean>;
  /** Every credential (rotation), or one node's. */
  listSshCredentials(query?: { nodeId?: string }): Promise<SshCredentialRecord[]>;
  /** Replaces a credential's seal (rotation); false when it is gone. */
  resealSshCredential(id: string, sealed: string, keyVersion: number, rotatedAt: number): Promise<boolean>;
}
