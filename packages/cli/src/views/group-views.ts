import type { GroupView, ResolvedVarsView, VarOrigin, VarsView } from '@gpufleet/protocol';
import { termSafe, type Column } from '../output.js';

/** A variable's value in one cell: JSON, so "550" and 550 read differently. */
export function valueCell(value: unknown): string {
  return termSafe(JSON.stringify(value) ?? 'null');
}

export const GROUP_COLUMNS: Column<GroupView>[] = [
  { header: 'NAME', get: (g) => termSafe(g.name) },
  { header: 'PRIORITY', get: (g) => String(g.priority), align: 'right' },
  { header: 'SELECTOR', get: (g) => termSafe(g.selector ?? '-') },
  { header: 'MEMBERS', get: (g) => String(g.nodes.length), align: 'right' },
  { header: 'STATIC', get: (g) => String(g.members.length), align: 'right', wide: true },
  { header: 'VARS', get: (g) => String(Object.keys(g.vars).length), align: 'right' },
  { header: 'DESCRIPTION', get: (g) => termSafe(g.description), wide: true },
];

function varLines(vars: Record<string, unknown>, indent: string): string {
  const names = Object.keys(vars);
  if (names.length === 0) return `${indent}(none)\n`;
  return names.map((n) => `${indent}${termSafe(n)} = ${valueCell(vars[n])}\n`).join('');
}

/** `groups get`: settings, members by hostname (static ones marked), variables. */
export function renderGroup(g: GroupView): string {
  const statics = new Set(g.members);
  let out = `Name:        ${termSafe(g.name)}\n`;
  out += `Priority:    ${g.priority}\n`;
  out += `Selector:    ${termSafe(g.selector ?? '-')}\n`;
  if (g.description) out += `Description: ${termSafe(g.description)}\n`;
  out += `Created:     ${g.createdAt}\n`;
  out += `Members (${g.nodes.length}):\n`;
  if (g.nodes.length === 0) out += '  (none)\n';
  for (const n of g.nodes) out += `  ${termSafe(n.hostname)}${statics.has(n.id) ? '  (static)' : ''}\n`;
  // Static members that are not live nodes now (removed ones leave on their own; kept for honesty).
  const shown = new Set(g.nodes.map((n) => n.id));
  for (const id of g.members) if (!shown.has(id)) out += `  ${termSafe(id)}  (static, not a live node)\n`;
  out += 'Variables:\n';
  out += varLines(g.vars, '  ');
  return out;
}

/** `vars ls`: one scope's variables. */
export function renderVars(v: VarsView): string {
  const head = v.scope === 'global' ? 'global variables' : `${v.scope} ${termSafe(v.target ?? '')} variables`;
  return `${head}${v.updatedAt ? ` (updated ${v.updatedAt})` : ''}:\n${varLines(v.vars, '  ')}`;
}

export interface ResolvedRow {
  name: string;
  value: unknown;
  origin: VarOrigin;
}

function layerName(scope: string, source: string | null, r: ResolvedVarsView): string {
  if (source === null) return scope;
  return `${scope} ${termSafe(source === r.nodeId ? r.hostname : source)}`;
}

/** `vars show`: NAME VALUE FROM OVERRIDES. */
export function resolvedColumns(r: ResolvedVarsView): Column<ResolvedRow>[] {
  return [
    { header: 'NAME', get: (row) => termSafe(row.name) },
    { header: 'VALUE', get: (row) => valueCell(row.value) },
    { header: 'FROM', get: (row) => layerName(row.origin.scope, row.origin.source, r) },
    {
      header: 'OVERRIDES',
      get: (row) =>
        row.origin.overrides.length === 0 ? '-' : row.origin.overrides.map((o) => `${layerName(o.scope, o.source, r)}=${valueCell(o.value)}`).join(', '),
    },
  ];
}

export function resolvedRows(r: ResolvedVarsView): ResolvedRow[] {
  return Object.entries(r.vars).map(([name, v]) => ({ name, value: v.value, origin: v.origin }));
}

/** The line above `vars show`'s table: which groups apply, in the order they win. */
export function resolvedHeader(r: ResolvedVarsView): string {
  const groups = r.groups.length === 0 ? 'no groups' : `groups ${r.groups.map((g) => `${termSafe(g.name)} (${g.priority})`).join(' > ')}`;
  return `${termSafe(r.hostname)}: ${groups}\n`;
}
