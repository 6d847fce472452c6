import { z } from 'zod';
import {
  FleetError,
  MAX_FRAME_BYTES,
  ScriptSignature,
  scriptSha256,
  verifyScriptSignature,
  type Ability,
  type ScriptDetail,
  type ScriptView,
} from '@gpufleet/protocol';
import type { Clock } from '../clock.js';
import type { ActionAudit } from '../services/audit-log.js';
import type { ScriptRecord, Store } from '../store/store.js';
import type { Authority } from '../trust/capability-registry.js';
import { firstIssue } from '../trust/verdict-error.js';

/** Script names: what a person types after `--script`; no slashes, no spaces. */
export const SCRIPT_NAME = /^[A-Za-z0-9][A-Za-z0-9._-]{0,127}$/;
/** Largest script content (characters), as the command frame carries it. */
export const MAX_SCRIPT_CHARS = 1_048_576;
/**
 * Largest script as it travels (UTF-8 bytes of its JSON string): the command frame carries it
 * beside the signed command, and an agent accepts frames up to MAX_FRAME_BYTES. The rest of the
 * frame (signed command, capability chain, script signature) stays well under the 64 KiB kept free.
 */
export const MAX_SCRIPT_WIRE_BYTES = MAX_FRAME_BYTES - 64 * 1024;

export const ScriptName = z.string().regex(SCRIPT_NAME, 'a script name is 1-128 letters, digits, ".", "_" or "-", starting with a letter or digit');

/** POST /api/v1/scripts body. */
export const AddScriptRequest = z.strictObject({
  name: ScriptName,
  content: z.string().min(1, 'a script cannot be empty').max(MAX_SCRIPT_CHARS),
  signature: ScriptSignature,
});
export type AddScriptRequest = z.infer<typeof AddScriptRequest>;

export type { ScriptDetail, ScriptView } from '@gpufleet/protocol';

/** What the runs service attaches to a command frame for a library script. */
export type ScriptLookup = (name: string, version: number) => Promise<{ content: string; signature: ScriptSignature } | null>;

export interface ScriptLibraryOptions {
  store: Store;
  clock: Clock;
  /** How a signer may publish scripts: as a fleet root or through a registered capability; null: it may not. */
  authorityOf: (did: string, ability: Ability) => Promise<Authority | null>;
}

const iso = (ms: number | null) => (ms === null ? null : new Date(ms).toISOString());

function view(r: ScriptRecord): ScriptView {
  return {
    name: r.name,
    version: r.version,
    sha256: r.sha256,
    signer: r.signer,
    createdAt: iso(r.createdAt)!,
    createdBy: r.createdBy,
    removed: r.removedAt !== null,
    removedAt: iso(r.removedAt),
  };
}

/**
 * The signed script library. Each version is stored with its SHA-256 and the operator's signature
 * over (name, version, sha256); the server checks the signature and the signer's standing (a root
 * or a holder of exec/script) before it stores anything, and hosts check both again before they
 * run a script. Versions are never rewritten; removal marks them and keeps the history.
 * Each change or refusal is described to the caller's ActionAudit (a REST request's one record).
 */
export class ScriptLibrary {
  constructor(private readonly o: ScriptLibraryOptions) {}

  async add(body: unknown, audit: ActionAudit): Promise<ScriptDetail> {
    const actor = audit.actor;
    const parsed = AddScriptRequest.safeParse(body);
    if (!parsed.success) throw new FleetError('invalid_argument', `invalid script: ${firstIssue(parsed.error)}`);
    const { name, content, signature } = parsed.data;
    const wireBytes = Buffer.byteLength(JSON.stringify(content), 'utf8');
    if (wireBytes > MAX_SCRIPT_WIRE_BYTES) {
      throw new FleetError(
        'invalid_argument',
        `script '${name}' is ${wireBytes.toLocaleString('en-US')} bytes as it travels to hosts (JSON-escaped UTF-8), over the ${MAX_SCRIPT_WIRE_BYTES.toLocaleString('en-US')} that fit in a command frame: split it, or ship the large part as a file`,
      );
    }
    const sha256 = scriptSha256(content);
    if (signature.name !== name) throw new FleetError('invalid_argument', `the signature covers script '${signature.name}', not '${name}'`);
    if (signature.sha256 !== sha256) {
      throw new FleetError(
        'invalid_argument',
        `the signature covers content with SHA-256 ${signature.sha256.slice(0, 12)}…, but this content hashes to ${sha256.slice(0, 12)}…`,
      );
    }
    const refuse = async (code: 'permission_denied' | 'conflict', reason: string, message: string, details: object = {}) => {
      await audit.note({
        action: 'script.add',
        target: name,
        result: 'error',
        details: { signer: signature.signer, version: signature.version, sha256, reason, ...details },
      });
      return new FleetError(code, message, { details: { reason, ...details } });
    };
    if (!verifyScriptSignature(signature))
      throw await refuse('permission_denied', 'bad_signature', `the script signature does not verify as signed by ${signature.signer}`);
    const authority = await this.o.authorityOf(signature.signer, 'exec/script');
    if (authority === null) {
      throw await refuse(
        'permission_denied',
        'unknown_issuer',
        `${signature.signer} is neither a fleet root nor holds a registered capability granting exec/script`,
      );
    }
    const last = await this.o.store.getScript(name);
    const next = (last?.version ?? 0) + 1;
    if (signature.version !== next) {
      throw await refuse(
        'conflict',
        'wrong_version',
        `the signature is for version ${signature.version}, but the next version of '${name}' is ${next}: sign again`,
        { expected: next },
      );
    }
    const record: ScriptRecord = {
      name,
      version: next,
      content,
      sha256,
      signer: signature.signer,
      signature,
      createdAt: this.o.clock.now(),
      createdBy: actor,
      removedAt: null,
    };
    try {
      await this.o.store.insertScriptVersion(record);
    } catch (err) {
      if (FleetError.is(err, 'already_exists'))
        throw await refuse('conflict', 'wrong_version', `version ${next} of '${name}' was just added by someone else: sign version ${next + 1}`, {
          expected: next + 1,
        });
      throw err;
    }
    const chain = authority.kind === 'capability' ? { capability: authority.capabilityId, chain: authority.chain } : {};
    await audit.note({
      action: 'script.add',
      target: `${name}@${next}`,
      result: 'ok',
      details: { signer: signature.signer, authority: authority.kind, version: next, sha256, ...chain },
    });
    return this.detail(record);
  }

  /** The newest version of every script, removed ones included. */
  async list(): Promise<ScriptView[]> {
    return (await this.o.store.listScripts()).map(view);
  }

  /** One version (the newest when omitted) with content, signature and history; not_found otherwise. */
  async get(name: string, version?: number): Promise<ScriptDetail> {
    const r = await this.o.store.getScript(checkName(name), version);
    if (!r) throw new FleetError('not_found', version === undefined ? `no script named '${name}'` : `script '${name}' has no version ${version}`);
    return this.detail(r);
  }

  /** Marks every version removed (history stays, `lookup` stops finding it). */
  async remove(name: string, audit: ActionAudit): Promise<ScriptView> {
    const marked = await this.o.store.markScriptRemoved(checkName(name), this.o.clock.now());
    const last = await this.o.store.getScript(name);
    if (!last) throw new FleetError('not_found', `no script named '${name}'`);
    if (marked === 0) throw new FleetError('conflict', `script '${name}' is already removed`);
    await audit.note({ action: 'script.remove', target: name, result: 'ok', details: { versions: marked, lastVersion: last.version, signer: last.signer } });
    return view(last);
  }

  /** For the runs service: a version's content and signature, or null when absent or removed. */
  readonly lookup: ScriptLookup = async (name, version) => {
    if (typeof name !== 'string' || !SCRIPT_NAME.test(name) || !Number.isSafeInteger(version) || version < 1) return null;
    const r = await this.o.store.getScript(name, version);
    return r && r.removedAt === null ? { content: r.content, signature: r.signature } : null;
  };

  private async detail(r: ScriptRecord): Promise<ScriptDetail> {
    const history = (await this.o.store.listScriptVersions(r.name)).map(view);
    return { ...view(r), content: r.content, signature: r.signature, history };
  }
}

function checkName(name: string): string {
  if (typeof name !== 'string' || !SCRIPT_NAME.test(name))
    throw new FleetError('invalid_argument', `'${String(name).slice(0, 60)}' is not a script name: 1-128 letters, digits, ".", "_" or "-"`);
  return name;
}
