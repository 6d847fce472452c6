import { createHash } from 'node:crypto';
import { FleetError, parseDurationMs, type AddTemplateRequest, type TemplateCategory, type TemplateDetailView, type TemplateView } from '@gpufleet/protocol';
import type { Clock } from '../clock.js';
import type { ActionAudit } from '../services/audit-log.js';
import type { Store, TemplateRecord } from '../store/store.js';
import { readBuiltinTemplates, type BuiltinTemplate } from './builtin-templates.js';
import { parsePlaybook } from './playbook-text.js';

export function sha256Hex(text: string): string {
  return createHash('sha256').update(text, 'utf8').digest('hex');
}

/** A custom template runs at most this long unless it says otherwise. */
export const DEFAULT_TEMPLATE_TIMEOUT_MS = 30 * 60_000;
const MAX_TEMPLATE_TIMEOUT_MS = 24 * 3_600_000;

export function templateView(t: TemplateRecord): TemplateView {
  return {
    name: t.name,
    version: t.version,
    description: t.description,
    category: t.category as TemplateCategory,
    builtin: t.builtin,
    become: t.become,
    timeoutMs: t.timeoutMs,
    vars: t.vars,
    sha256: t.sha256,
    createdAt: new Date(t.createdAt).toISOString(),
    createdBy: t.createdBy,
  };
}

/** A duration for a template or a play: 90s, 30m, 2h; at most a day. */
export function parseRunTimeout(field: string, text: string): number {
  let ms: number;
  try {
    ms = parseDurationMs(text);
  } catch (err) {
    throw new FleetError('invalid_argument', `${field}: ${(err as Error).message}`);
  }
  if (ms < 1000 || ms > MAX_TEMPLATE_TIMEOUT_MS) throw new FleetError('invalid_argument', `${field}: between 1s and 24h, got ${text}`);
  return ms;
}

/**
 * Playbook templates by name and version. Built-ins are loaded at start: each becomes a version,
 * and a changed file a new one (the old version stays, so past plays still say what they ran).
 * Custom templates are added by admins; adding a name that exists makes its next version.
 */
export class TemplateService {
  constructor(
    private readonly o: {
      store: Store;
      clock: Clock;
      /** playbooks/ of the repository; null loads no built-ins. */
      builtinDir: string | null;
    },
  ) {}

  /** Stores each built-in whose text, flags or defaults differ from its newest version. */
  async loadBuiltins(): Promise<{ added: string[] }> {
    if (this.o.builtinDir === null) return { added: [] };
    const added: string[] = [];
    for (const b of await readBuiltinTemplates(this.o.builtinDir)) {
      parsePlaybook(b.playbook);
      const newest = await this.o.store.getTemplate(b.name);
      if (newest?.builtin && sameBuiltin(newest, b)) continue;
      await this.o.store.insertTemplate(this.record(b, (newest?.version ?? 0) + 1, true, 'system'));
      added.push(b.name);
    }
    return { added };
  }

  async list(): Promise<TemplateView[]> {
    return (await this.o.store.listTemplates()).map(templateView);
  }

  async get(name: string, version?: number): Promise<TemplateRecord> {
    const t = await this.o.store.getTemplate(name, version);
    if (!t) throw new FleetError('not_found', version === undefined ? `no template ${name}` : `template ${name} has no version ${version}`);
    return t;
  }

  async detail(name: string, version?: number): Promise<TemplateDetailView> {
    const t = await this.get(name, version);
    return { ...templateView(t), playbook: t.playbook, versions: await this.o.store.listTemplateVersions(name) };
  }

  async add(req: AddTemplateRequest, audit: ActionAudit): Promise<TemplateView> {
    try {
      parsePlaybook(req.playbook);
      const timeoutMs = req.timeout === undefined ? DEFAULT_TEMPLATE_TIMEOUT_MS : parseRunTimeout('timeout', req.timeout);
      const newest = await this.o.store.getTemplate(req.name);
      const record = this.record(
        {
          name: req.name,
          category: req.category,
          description: req.description ?? '',
          become: req.become,
          timeoutMs,
          vars: req.vars ?? {},
          playbook: req.playbook,
        },
        (newest?.version ?? 0) + 1,
        false,
        audit.actor,
      );
      await this.o.store.insertTemplate(record);
      await audit.note({ action: 'template.add', target: `${record.name}@${record.version}`, result: 'ok', details: { sha256: record.sha256 } });
      return templateView(record);
    } catch (err) {
      await audit.note({ action: 'template.add', target: req.name, result: 'error', details: { error: (err as Error).message } });
      throw err;
    }
  }

  private record(b: BuiltinTemplate, version: number, builtin: boolean, createdBy: string): TemplateRecord {
    return {
      name: b.name,
      version,
      description: b.description,
      category: b.category,
      builtin,
      become: b.become,
      timeoutMs: b.timeoutMs,
      vars: b.vars,
      playbook: b.playbook,
      sha256: sha256Hex(b.playbook),
      createdAt: this.o.clock.now(),
      createdBy,
    };
  }
}

function sameBuiltin(stored: TemplateRecord, b: BuiltinTemplate): boolean {
  return (
    stored.sha256 === sha256Hex(b.playbook) &&
    stored.description === b.description &&
    stored.category === b.category &&
    stored.become === b.become &&
    stored.timeoutMs === b.timeoutMs &&
    JSON.stringify(stored.vars) === JSON.stringify(b.vars)
  );
}
