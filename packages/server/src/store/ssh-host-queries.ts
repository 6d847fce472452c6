import { FleetError } from '@gpufleet/protocol';
import type { Kysely, Selectable } from 'kysely';
import type { Database } from './schema.js';
import type { SshCredentialsTable, SshHostsTable } from './ssh-host-schema.js';
import {
  SSH_CREDENTIAL_PURPOSES,
  type HostKeySource,
  type PinnedHostKeyRecord,
  type SshCredentialRecord,
  type SshHostPatch,
  type SshHostRecord,
} from './ssh-host-records.js';
import { checkId, checkInt, checkIntOrNull, checkOneOf, checkText, checkTextOrNull, dbInt, dbIntOrNull } from './store-checks.js';

/** The SQL of SSH hosts (0009_ssh_hosts), kept out of kysely-store.ts; every input is checked before anything is written. */

const LOGIN_KINDS = ['key', 'password'] as const;
const KEY_SOURCES: readonly HostKeySource[] = ['first-use', 'given', 'operator'];

type PinnedColumns = 'host_key' | 'bastion_key';

function pinnedToRow(prefix: PinnedColumns, key: PinnedHostKeyRecord | null): Partial<SshHostsTable> {
  const f = (name: string) => `${prefix === 'host_key' ? 'hostKey' : 'bastionHostKey'}.${name}`;
  if (key === null) {
    return {
      [`${prefix}_algorithm`]: null,
      [`${prefix}_fingerprint`]: null,
      [`${prefix}_blob`]: null,
      [`${prefix}_pinned_at`]: null,
      [`${prefix}_source`]: null,
    };
  }
  if (typeof key !== 'object') throw new FleetError('invalid_argument', `store: ${f('')} must be an object or null`);
  return {
    [`${prefix}_algorithm`]: checkText(f('algorithm'), key.algorithm),
    [`${prefix}_fingerprint`]: checkText(f('fingerprint'), key.fingerprint),
    [`${prefix}_blob`]: checkText(f('publicKey'), key.publicKey),
    [`${prefix}_pinned_at`]: checkInt(f('pinnedAt'), key.pinnedAt),
    [`${prefix}_source`]: checkOneOf(f('source'), key.source, KEY_SOURCES),
  };
}

/** How each patchable field becomes columns; also the list of patchable keys. */
const hostColumns: { [K in keyof SshHostPatch]-?: (v: unknown) => Partial<SshHostsTable> } = {
  address: (v) => ({ address: checkText('address', v) }),
  port: (v) => ({ port: checkInt('port', v) }),
  user: (v) => ({ user_name: checkText('user', v) }),
  loginKind: (v) => ({ login_kind: checkOneOf('loginKind', v, LOGIN_KINDS) }),
  bastion: (v) => {
    if (v === null) return { bastion_address: null, bastion_port: null, bastion_user: null };
    const b = v as SshHostRecord['bastion'] & object;
    if (typeof b !== 'object') throw new FleetError('invalid_argument', 'store: bastion must be an object or null');
    return {
      bastion_address: checkText('bastion.address', b.address),
      bastion_port: checkInt('bastion.port', b.port),
      bastion_user: checkText('bastion.user', b.user),
    };
  },
  hostKey: (v) => pinnedToRow('host_key', v as PinnedHostKeyRecord | null),
  bastionHostKey: (v) => pinnedToRow('bastion_key', v as PinnedHostKeyRecord | null),
  refusedHostKey: (v) => {
    if (v === null) return { refused_key_algorithm: null, refused_key_fingerprint: null, refused_key_blob: null, refused_key_seen_at: null };
    const k = v as NonNullable<SshHostRecord['refusedHostKey']>;
    if (typeof k !== 'object') throw new FleetError('invalid_argument', 'store: refusedHostKey must be an object or null');
    return {
      refused_key_algorithm: checkText('refusedHostKey.algorithm', k.algorithm),
      refused_key_fingerprint: checkText('refusedHostKey.fingerprint', k.fingerprint),
      refused_key_blob: checkText('refusedHostKey.publicKey', k.publicKey),
      refused_key_seen_at: checkInt('refusedHostKey.seenAt', k.seenAt),
    };
  },
  lastContactAt: (v) => ({ last_contact_at: checkIntOrNull('lastContactAt', v) }),
  lastError: (v) => ({ last_error: checkTextOrNull('lastError', v) }),
  factsAt: (v) => ({ facts_at: checkIntOrNull('factsAt', v) }),
  unreachableSince: (v) => ({ unreachable_since: checkIntOrNull('unreachableSince', v) }),
};

export function sshHostToRow(host: SshHostRecord): SshHostsTable {
  if (typeof host !== 'object' || host === null) throw new FleetError('invalid_argument', 'store: ssh host must be an object');
  const row: Partial<SshHostsTable> = { node_id: checkId('nodeId', host.nodeId), created_at: checkInt('createdAt', host.createdAt) };
  for (const [key, toColumns] of Object.entries(hostColumns)) Object.assign(row, toColumns(host[key as keyof SshHostPatch]));
  return row as SshHostsTable;
}

function sshHostPatchToRow(patch: SshHostPatch): Partial<SshHostsTable> {
  if (typeof patch !== 'object' || patch === null) throw new FleetError('invalid_argument', 'store: ssh host patch must be an object');
  const row: Partial<SshHostsTable> = {};
  for (const [key, value] of Object.entries(patch)) {
    if (value === undefined) continue;
    if (!Object.hasOwn(hostColumns, key)) throw new FleetError('invalid_argument', `store: ssh host field '${key}' cannot be patched`);
    Object.assign(row, (hostColumns as Record<string, (v: unknown) => Partial<SshHostsTable>>)[key]!(value));
  }
  return row;
}

function rowToPinned(row: Selectable<SshHostsTable>, prefix: PinnedColumns): PinnedHostKeyRecord | null {
  const r = row as unknown as Record<string, unknown>;
  if (r[`${prefix}_fingerprint`] === null) return null;
  return {
    algorithm: r[`${prefix}_algorithm`] as string,
    fingerprint: r[`${prefix}_fingerprint`] as string,
    publicKey: r[`${prefix}_blob`] as string,
    pinnedAt: dbInt(r[`${prefix}_pinned_at`] as number),
    source: r[`${prefix}_source`] as HostKeySource,
  };
}

export function rowToSshHost(row: Selectable<SshHostsTable>): SshHostRecord {
  return {
    nodeId: row.node_id,
    address: row.address,
    port: dbInt(row.port),
    user: row.user_name,
    loginKind: row.login_kind as SshHostRecord['loginKind'],
    bastion: row.bastion_address === null ? null : { address: row.bastion_address, port: dbInt(row.bastion_port ?? 22), user: row.bastion_user ?? '' },
    hostKey: rowToPinned(row, 'host_key'),
    bastionHostKey: rowToPinned(row, 'bastion_key'),
    refusedHostKey:
      row.refused_key_fingerprint === null
        ? null
        : {
            algorithm: row.refused_key_algorithm ?? '',
            fingerprint: row.refused_key_fingerprint,
            publicKey: row.refused_key_blob ?? '',
            seenAt: dbInt(row.refused_key_seen_at ?? 0),
          },
    lastContactAt: dbIntOrNull(row.last_contact_at),
    lastError: row.last_error,
    factsAt: dbIntOrNull(row.facts_at),
    unreachableSince: dbIntOrNull(row.unreachable_since),
    createdAt: dbInt(row.created_at),
  };
}

function credentialToRow(c: SshCredentialRecord): SshCredentialsTable {
  if (typeof c !== 'object' || c === null) throw new FleetError('invalid_argument', 'store: ssh credential must be an object');
  return {
    id: checkId('credential.id', c.id),
    node_id: checkId('credential.nodeId', c.nodeId),
    purpose: checkOneOf('credential.purpose', c.purpose, SSH_CREDENTIAL_PURPOSES),
    key_version: checkInt('credential.keyVersion', c.keyVersion),
    sealed: checkText('credential.sealed', c.sealed),
    created_at: checkInt('credential.createdAt', c.createdAt),
    rotated_at: checkIntOrNull('credential.rotatedAt', c.rotatedAt),
  };
}

function rowToCredential(row: Selectable<SshCredentialsTable>): SshCredentialRecord {
  return {
    id: row.id,
    nodeId: row.node_id,
    purpose: row.purpose as SshCredentialRecord['purpose'],
    keyVersion: dbInt(row.key_version),
    sealed: row.sealed,
    createdAt: dbInt(row.created_at),
    rotatedAt: dbIntOrNull(row.rotated_at),
  };
}

export async function insertSshHost(db: Kysely<Database>, host: SshHostRecord, credentials: ReadonlyArray<SshCredentialRecord>): Promise<void> {
  const row = sshHostToRow(host);
  if (!Array.isArray(credentials)) throw new FleetError('invalid_argument', 'store: credentials must be an array');
  const creds = credentials.map(credentialToRow);
  const foreign = creds.find((c) => c.node_id !== row.node_id);
  if (foreign) throw new FleetError('invalid_argument', `store: credential ${foreign.id} belongs to ${foreign.node_id}, not ${row.node_id}`);
  await db.transaction().execute(async (trx) => {
    const existing = await trx.selectFrom('ssh_hosts').select('node_id').where('node_id', '=', row.node_id).executeTakeFirst();
    if (existing) throw new FleetError('already_exists', `node ${row.node_id} already has an SSH host record`);
    await trx.insertInto('ssh_hosts').values(row).execute();
    if (creds.length > 0) await trx.insertInto('ssh_credentials').values(creds).execute();
  });
}

export async function getSshHost(db: Kysely<Database>, nodeId: string): Promise<SshHostRecord | undefined> {
  const row = await db.selectFrom('ssh_hosts').selectAll().where('node_id', '=', checkId('nodeId', nodeId)).executeTakeFirst();
  return row === undefined ? undefined : rowToSshHost(row);
}

export async function listSshHosts(db: Kysely<Database>): Promise<SshHostRecord[]> {
  const rows = await db.selectFrom('ssh_hosts').selectAll().orderBy('created_at').orderBy('node_id').execute();
  return rows.map(rowToSshHost);
}

export async function updateSshHost(db: Kysely<Database>, nodeId: string, patch: SshHostPatch): Promise<void> {
  const id = checkId('nodeId', nodeId);
  const row = sshHostPatchToRow(patch);
  const found = await db.selectFrom('ssh_hosts').select('node_id').where('node_id', '=', id).executeTakeFirst();
  if (!found) throw new FleetError('not_found', `no SSH host record for node ${id}`);
  if (Object.keys(row).length > 0) await db.updateTable('ssh_hosts').set(row).where('node_id', '=', id).execute();
}

export async function deleteSshHost(db: Kysely<Database>, nodeId: string): Promise<boolean> {
  const id = checkId('nodeId', nodeId);
  return db.transaction().execute(async (trx) => {
    await trx.deleteFrom('ssh_credentials').where('node_id', '=', id).execute();
    const result = await trx.deleteFrom('ssh_hosts').where('node_id', '=', id).executeTakeFirst();
    return Number(result.numDeletedRows) > 0;
  });
}

export async function listSshCredentials(db: Kysely<Database>, query: { nodeId?: string } = {}): Promise<SshCredentialRecord[]> {
  let q = db.selectFrom('ssh_credentials').selectAll();
  if (query.nodeId !== undefined) q = q.where('node_id', '=', checkId('nodeId', query.nodeId));
  const rows = await q.orderBy('created_at').orderBy('id').execute();
  return rows.map(rowToCredential);
}

export async function resealSshCredential(db: Kysely<Database>, id: string, sealed: string, keyVersion: number, rotatedAt: number): Promise<boolean> {
  const row = { sealed: checkText('sealed', sealed), key_version: checkInt('keyVersion', keyVersion), rotated_at: checkInt('rotatedAt', rotatedAt) };
  const result = await db.updateTable('ssh_credentials').set(row).where('id', '=', checkId('id', id)).executeTakeFirst();
  return Number(result.numUpdatedRows) > 0;
}
