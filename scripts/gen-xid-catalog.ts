/**
 * Generates packages/protocol/src/xid-catalog.generated.ts from the two catalog CSVs
 * (../shared/fixtures/catalog/xid-catalog.csv and sxid-catalog.csv): the one XID/SXid table
 * every part of gpufleet reads. Run after the CSVs change:
 *
 *   npx tsx scripts/gen-xid-catalog.ts [CATALOG_DIR]
 *
 * CATALOG_DIR defaults to $GPUFLEET_FIXTURES/catalog, else <repo>/../shared/fixtures/catalog.
 * The output is committed (the fixtures are not part of any package); a protocol test
 * regenerates it in memory and fails when it is stale.
 */
import { createHash } from 'node:crypto';
import { readFileSync, writeFileSync } from 'node:fs';
import { dirname, join, resolve } from 'node:path';
import { fileURLToPath } from 'node:url';

/** NVIDIA catalog release the CSV was taken from; bump the suffix when the CSV is re-cut. */
export const CATALOG_RELEASE = 'r590-1';

const repoRoot = resolve(dirname(fileURLToPath(import.meta.url)), '..');

/** Where the generated module lives. */
export const GENERATED_PATH = join(repoRoot, 'packages/protocol/src/xid-catalog.generated.ts');

/** The catalog folder the generator reads by default. */
export function defaultCatalogDir(): string {
  const fixtures = process.env.GPUFLEET_FIXTURES ?? resolve(repoRoot, '../shared/fixtures');
  return join(fixtures, 'catalog');
}

/**
 * RFC 4180 CSV: fields separated by commas, records by CRLF or LF, fields in double quotes may
 * hold commas, line breaks and doubled quotes (`""`). Throws on an unterminated quote or text
 * after a closing quote, naming the line.
 */
export function parseCsv(text: string): string[][] {
  const rows: string[][] = [];
  let row: string[] = [];
  let field = '';
  let i = 0;
  let line = 1;
  // A field that was quoted is complete at its closing quote: only a separator may follow.
  let closed = false;
  const endField = () => {
    row.push(field);
    field = '';
    closed = false;
  };
  const endRow = () => {
    endField();
    rows.push(row);
    row = [];
  };
  if (text.charCodeAt(0) === 0xfeff) i = 1; // byte-order mark from spreadsheet exports
  while (i < text.length) {
    const c = text[i]!;
    if (c === '"' && field === '' && !closed) {
      const start = line;
      i++;
      for (;;) {
        if (i >= text.length) throw new Error(`CSV: unterminated quoted field starting on line ${start}`);
        const q = text[i]!;
        if (q === '"') {
          if (text[i + 1] === '"') {
            field += '"';
            i += 2;
            continue;
          }
          i++;
          break;
        }
        if (q === '\n') line++;
        field += q;
        i++;
      }
      closed = true;
      continue;
    }
    if (c === ',') {
      endField();
      i++;
      continue;
    }
    if (c === '\r' || c === '\n') {
      endRow();
      i += c === '\r' && text[i + 1] === '\n' ? 2 : 1;
      line++;
      continue;
    }
    if (closed) throw new Error(`CSV: text after a closing quote on line ${line}`);
    field += c;
    i++;
  }
  if (field !== '' || closed || row.length > 0) endRow();
  return rows;
}

/** Rows as objects keyed by the header row; every row must have the header's width. */
export function csvRecords(text: string, required: readonly string[], name: string): Record<string, string>[] {
  const rows = parseCsv(text).filter((r) => !(r.length === 1 && r[0]!.trim() === ''));
  const header = rows.shift();
  if (!header) throw new Error(`${name}: empty file`);
  const names = header.map((h) => h.trim());
  for (const col of required) if (!names.includes(col)) throw new Error(`${name}: no "${col}" column (header: ${names.join(',')})`);
  return rows.map((r, n) => {
    if (r.length !== names.length) throw new Error(`${name}: record ${n + 2} has ${r.length} fields, the header has ${names.length}`);
    return Object.fromEntries(names.map((h, k) => [h, r[k]!.trim()]));
  });
}

const XID_COLUMNS = [
  'xid',
  'nvidia_mnemonic',
  'nvidia_description',
  'nvidia_immediate_action',
  'nvidia_investigatory_action',
  'gpud_description',
  'gpud_event_type',
  'gpud_repair_actions',
] as const;
const SXID_COLUMNS = ['sxid', 'name', 'gpud_event_type', 'gpud_repair_actions'] as const;

function code(raw: string, name: string): number {
  if (!/^\d+$/.test(raw)) throw new Error(`${name}: "${raw}" is not a code`);
  return Number(raw);
}

const orNull = (s: string): string | null => (s === '' ? null : s);
const list = (s: string): string[] =>
  s
    .split(';')
    .map((x) => x.trim())
    .filter(Boolean);

/** The generated module's text for these two CSV texts (pure: the test calls it too). */
export function renderCatalog(xidCsv: string, sxidCsv: string): string {
  const xids = csvRecords(xidCsv, XID_COLUMNS, 'xid-catalog.csv').map((r) => ({
    code: code(r.xid!, 'xid-catalog.csv'),
    mnemonic: orNull(r.nvidia_mnemonic!),
    description: orNull(r.nvidia_description!),
    immediateAction: orNull(r.nvidia_immediate_action!),
    investigatoryAction: orNull(r.nvidia_investigatory_action!),
    gpudDescription: orNull(r.gpud_description!),
    gpudEventType: orNull(r.gpud_event_type!),
    gpudRepairActions: list(r.gpud_repair_actions!),
  }));
  const sxids = csvRecords(sxidCsv, SXID_COLUMNS, 'sxid-catalog.csv').map((r) => ({
    code: code(r.sxid!, 'sxid-catalog.csv'),
    name: orNull(r.name!),
    eventType: orNull(r.gpud_event_type!),
    repairActions: list(r.gpud_repair_actions!),
  }));
  for (const [what, rows] of [
    ['xid', xids],
    ['sxid', sxids],
  ] as const) {
    const seen = new Set<number>();
    for (const r of rows) {
      if (seen.has(r.code)) throw new Error(`${what}-catalog.csv: code ${r.code} appears twice`);
      seen.add(r.code);
    }
  }
  xids.sort((a, b) => a.code - b.code);
  sxids.sort((a, b) => a.code - b.code);
  const actions = [...new Set(xids.map((x) => x.immediateAction).filter((a): a is string => a !== null))].sort();
  const eventTypes = [...new Set([...xids.map((x) => x.gpudEventType), ...sxids.map((x) => x.eventType)].filter((a): a is string => a !== null))].sort();
  // Line endings do not change the version: a CRLF checkout hashes like an LF one.
  const hash = createHash('sha256').update(xidCsv.replace(/\r\n/g, '\n')).update('\0').update(sxidCsv.replace(/\r\n/g, '\n')).digest('hex').slice(0, 12);
  const json = (v: unknown) => JSON.stringify(v);
  const out: string[] = [
    '// Generated by scripts/gen-xid-catalog.ts from catalog/xid-catalog.csv and catalog/sxid-catalog.csv.',
    '// Do not edit: change the CSVs and run `npx tsx scripts/gen-xid-catalog.ts`.',
    "import type { SxidEntry, XidEntry } from './xid-catalog.js';",
    '',
    '/** Catalog release plus a hash of both CSVs: changes whenever the table does. */',
    `export const XID_CATALOG_VERSION = ${json(`${CATALOG_RELEASE}+${hash}`)};`,
    '',
    "/** Every immediate action NVIDIA's catalog names (the column's distinct values). */",
    `export const XID_IMMEDIATE_ACTIONS = [${actions.map(json).join(', ')}] as const;`,
    '',
    '/** Event types the health-daemon columns use. */',
    `export const CATALOG_EVENT_TYPES = [${eventTypes.map(json).join(', ')}] as const;`,
    '',
    `/** ${xids.length} XID codes, ascending. */`,
    'export const XID_CATALOG: readonly XidEntry[] = [',
    ...xids.map(
      (x) =>
        `  { code: ${x.code}, mnemonic: ${json(x.mnemonic)}, description: ${json(x.description)}, immediateAction: ${json(x.immediateAction)}, investigatoryAction: ${json(x.investigatoryAction)}, gpudDescription: ${json(x.gpudDescription)}, gpudEventType: ${json(x.gpudEventType)}, gpudRepairActions: ${json(x.gpudRepairActions)} },`,
    ),
    '];',
    '',
    `/** ${sxids.length} NVSwitch SXid codes, ascending. */`,
    'export const SXID_CATALOG: readonly SxidEntry[] = [',
    ...sxids.map((x) => `  { code: ${x.code}, name: ${json(x.name)}, eventType: ${json(x.eventType)}, repairActions: ${json(x.repairActions)} },`),
    '];',
    '',
  ];
  return out.join('\n');
}

/** Reads both CSVs from `dir` and renders the module. */
export function renderCatalogFromDir(dir: string): string {
  return renderCatalog(readFileSync(join(dir, 'xid-catalog.csv'), 'utf8'), readFileSync(join(dir, 'sxid-catalog.csv'), 'utf8'));
}

if (process.argv[1] && resolve(process.argv[1]) === fileURLToPath(import.meta.url)) {
  const dir = process.argv[2] ? resolve(process.argv[2]) : defaultCatalogDir();
  try {
    const text = renderCatalogFromDir(dir);
    writeFileSync(GENERATED_PATH, text);
    process.stdout.write(`wrote ${GENERATED_PATH} from ${dir}\n`);
  } catch (err) {
    process.stderr.write(`gen-xid-catalog: ${err instanceof Error ? err.message : String(err)}\n`);
    process.exit(1);
  }
}
