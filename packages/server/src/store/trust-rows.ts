import { FleetError } from '@gpufleet/protocol';
import type { Selectable } from 'kysely';
import type { AuditLogTable } from './schema.js';
import type { CapabilitiesTable, FleetRootsTable, RevocationsTable, ScriptsTable, SecretsTable } from './trust-schema.js';
import type { AuditChainRecord, CapabilityRecord, RevocationRecord, RootsVersionRecord, ScriptRecord, SecretRecord } from './trust-records.js';
import { checkArray, checkId, checkInt, checkIntOrNull, checkObject, checkOneOf, checkText, dbInt, dbIntOrNull, fromJson, toJson } from './store-checks.js';
import { rowToAudit } from './row-mappers.js';

/** Conversions between the trust records and their rows (0004_trust), both ways. */

function object(field: string, value: unknown): string {
  return toJson(field, checkObject(field, value));
}

function stringArray(field: string, value: unknown): string[] {
  const list = checkArray(field, value);
  list.forEach((v, i) => checkText(`${field}[${i}]`, v));
  return list as string[];
}

function record(what: string, value: unknown): Record<string, unknown> {
  if (typeof value !== 'object' || value === null) throw new FleetError('invalid_argument', `store: ${what} must be an object`);
  return value as Record<string, unknown>;
}

export function rootsToRow(value: RootsVersionRecord): FleetRootsTable {
  const r = record('roots version', value);
  const version = checkInt('version', r.version);
  if (version < 1) throw new FleetError('invalid_argument', `store: version must be 1 or more, got ${version}`);
  return {
    version,
    roots: toJson('roots', stringArray('roots', r.roots)),
    update_doc: r.update === null ? null : object('update', r.update),
    actor: checkText('actor', r.actor),
    at: checkInt('at', r.at),
  };
}

export function rowToRoots(row: Selectable<FleetRootsTable>): RootsVersionRecord {
  return {
    version: dbInt(row.version),
    roots: fromJson(`fleet_roots.roots of ${row.version}`, row.roots) as string[],
    update: row.update_doc === null ? null : (fromJson(`fleet_roots.update_doc of ${row.version}`, row.update_doc) as RootsVersionRecord['update']),
    actor: row.actor,
    at: dbInt(row.at),
  };
}

export function capabilityToRow(value: CapabilityRecord): CapabilitiesTable {
  const r = record('capability', value);
  return {
    id: checkId('id', r.id),
    iss: checkId('iss', r.iss),
    aud: checkId('aud', r.aud),
    can: toJson('can', stringArray('can', r.can)),
    on_selector: checkText('on', r.on),
    nbf: checkInt('nbf', r.nbf),
    exp: checkInt('exp', r.exp),
    token: object('token', r.token),
    added_at: checkInt('addedAt', r.addedAt),
    added_by: checkText('addedBy', r.addedBy),
  };
}

export function rowToCapability(row: Selectable<CapabilitiesTable>): CapabilityRecord {
  return {
    id: row.id,
    iss: row.iss,
    aud: row.aud,
    can: fromJson(`capabilities.can of ${row.id}`, row.can) as string[],
    on: row.on_selector,
    nbf: dbInt(row.nbf),
    exp: dbInt(row.exp),
    token: fromJson(`capabilities.token of ${row.id}`, row.token) as CapabilityRecord['token'],
    addedAt: dbInt(row.added_at),
    addedBy: row.added_by,
  };
}

export function revocationToRow(value: RevocationRecord): RevocationsTable {
  const r = record('revocation', value);
  return {
    id: checkId('id', r.id),
    target_kind: checkOneOf('targetKind', r.targetKind, ['capability', 'did'] as const),
    target: checkId('target', r.target),
    iss: checkId('iss', r.iss),
    at: checkInt('at', r.at),
    doc: object('revocation', r.revocation),
    added_at: checkInt('addedAt', r.addedAt),
    added_by: checkText('addedBy', r.addedBy),
  };
}

export function rowToRevocation(row: Selectable<RevocationsTable>): RevocationRecord {
  return {
    id: row.id,
    targetKind: row.target_kind as RevocationRecord['targetKind'],
    target: row.target,
    iss: row.iss,
    at: dbInt(row.at),
    revocation: fromJson(`revocations.doc of ${row.id}`, row.doc) as RevocationRecord['revocation'],
    addedAt: dbInt(row.added_at),
    addedBy: row.added_by,
  };
}

export function scriptToRow(value: ScriptRecord): ScriptsTable {
  const r = record('script', value);
  const version = checkInt('version', r.version);
  if (version < 1) throw new FleetError('invalid_argument', `store: version must be 1 or more, got ${version}`);
  return {
    name: checkId('name', r.name),
    version,
    content: checkText('content', r.content),
    sha256: checkId('sha256', r.sha256),
    signer: checkId('signer', r.signer),
    signature: object('signature', r.signature),
    created_at: checkInt('createdAt', r.createdAt),
    created_by: checkText('createdBy', r.createdBy),
    removed_at: checkIntOrNull('removedAt', r.removedAt),
  };
}

export function rowToScript(row: Selectable<ScriptsTable>): ScriptRecord {
  return {
    name: row.name,
    version: dbInt(row.version),
    content: row.content,
    sha256: row.sha256,
    signer: row.signer,
    signature: fromJson(`scripts.signature of ${row.name}@${row.version}`, row.signature) as ScriptRecord['signature'],
    createdAt: dbInt(row.created_at),
    createdBy: row.created_by,
    removedAt: dbIntOrNull(row.removed_at),
  };
}

export function secretToRow(value: SecretRecord): SecretsTable {
  const r = record('secret', value);
  return { id: checkId('id', r.id), sealed: checkText('sealed', r.sealed), created_at: checkInt('createdAt', r.createdAt) };
}

export function rowToSecret(row: Selectable<SecretsTable>): SecretRecord {
  return { id: row.id, sealed: row.sealed, createdAt: dbInt(row.created_at) };
}

/** Corrupt details JSON does not throw here: verification must be able to name the record. */
export function rowToAuditChain(row: Selectable<AuditLogTable>): AuditChainRecord {
  const links = { prevHash: row.prev_hash ?? null, hash: row.hash ?? null };
  try {
    return { ...rowToAudit(row), ...links };
  } catch (err) {
    return { ...rowToAudit({ ...row, details: 'null' }), ...links, damaged: (err as Error).message };
  }
}
