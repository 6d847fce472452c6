import { existsSync } from 'node:fs';
import { readFile } from 'node:fs/promises';
import { dirname, join, resolve } from 'node:path';
import { fileURLToPath } from 'node:url';
import { FleetError, parseDurationMs, TEMPLATE_CATEGORIES, type TemplateCategory } from '@gpufleet/protocol';
import { parse } from 'yaml';

/** A built-in template as playbooks/index.yaml lists it, with its playbook's text. */
export interface BuiltinTemplate {
  name: string;
  category: TemplateCategory;
  description: string;
  become: boolean;
  timeoutMs: number;
  vars: Record<string, unknown>;
  playbook: string;
}

/** The repository's playbooks/ folder: the nearest one above this module (source, build or bundle). */
export function defaultPlaybooksDir(): string | null {
  let dir = dirname(fileURLToPath(import.meta.url));
  for (let i = 0; i < 8; i++) {
    if (existsSync(join(dir, 'playbooks', 'index.yaml'))) return join(dir, 'playbooks');
    const up = resolve(dir, '..');
    if (up === dir) break;
    dir = up;
  }
  return null;
}

function bad(where: string, message: string): never {
  throw new FleetError('internal', `built-in playbooks (${where}): ${message}`);
}

/** Reads index.yaml and each playbook it names; a broken index is the build's fault, so `internal`. */
export async function readBuiltinTemplates(dir: string): Promise<BuiltinTemplate[]> {
  const indexPath = join(dir, 'index.yaml');
  const index = parse(await readFile(indexPath, 'utf8')) as { templates?: unknown };
  if (!Array.isArray(index?.templates)) bad(indexPath, 'templates: must be a list');
  const out: BuiltinTemplate[] = [];
  for (const raw of index.templates as Record<string, unknown>[]) {
    const name = String(raw?.name ?? '');
    if (!/^[a-z][a-z0-9_]*$/.test(name)) bad(indexPath, `bad template name ${JSON.stringify(name)}`);
    const file = String(raw.file ?? '');
    if (!/^[a-z0-9_]+\.ya?ml$/.test(file)) bad(indexPath, `${name}: file must be a .yml beside the index`);
    const category = raw.category as TemplateCategory;
    if (!TEMPLATE_CATEGORIES.includes(category)) bad(indexPath, `${name}: category must be one of ${TEMPLATE_CATEGORIES.join(', ')}`);
    const vars = raw.vars ?? {};
    if (typeof vars !== 'object' || vars === null || Array.isArray(vars)) bad(indexPath, `${name}: vars must be a mapping`);
    let timeoutMs: number;
    try {
      timeoutMs = parseDurationMs(String(raw.timeout ?? '30m'));
    } catch (err) {
      bad(indexPath, `${name}: ${(err as Error).message}`);
    }
    out.push({
      name,
      category,
      description: String(raw.description ?? ''),
      become: raw.become === true,
      timeoutMs,
      vars: vars as Record<string, unknown>,
      playbook: await readFile(join(dir, file), 'utf8'),
    });
  }
  return out;
}
