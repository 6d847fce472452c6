import { existsSync, readFileSync } from 'node:fs';
import { join } from 'node:path';
import { describe, expect, it } from 'vitest';
import { GENERATED_PATH, csvRecords, defaultCatalogDir, parseCsv, renderCatalog, renderCatalogFromDir } from '../../../scripts/gen-xid-catalog.js';
import {
  FALLEN_OFF_BUS_XID,
  SXID_CATALOG,
  XID_CATALOG,
  XID_CATALOG_VERSION,
  XID_IMMEDIATE_ACTIONS,
  sxidDescription,
  sxidInfo,
  sxidSeverity,
  xidDescription,
  xidInfo,
  xidSeverity,
} from './xid-catalog.js';

const catalogDir = defaultCatalogDir();
const haveFixtures = existsSync(join(catalogDir, 'xid-catalog.csv')) && existsSync(join(catalogDir, 'sxid-catalog.csv'));

describe('the generated catalog', () => {
  it('is up to date with catalog/*.csv (run `npx tsx scripts/gen-xid-catalog.ts` when this fails)', (ctx) => {
    // The fixtures live outside the repository (../shared); CI has them. Only their absence skips.
    if (!haveFixtures) ctx.skip(`fixtures dir absent: ${catalogDir} (set GPUFLEET_FIXTURES)`);
    expect(readFileSync(GENERATED_PATH, 'utf8')).toBe(renderCatalogFromDir(catalogDir));
  });

  it('holds every code of the CSVs, in order, with the CSV values', (ctx) => {
    if (!haveFixtures) ctx.skip(`fixtures dir absent: ${catalogDir}`);
    const xidRows = csvRecords(readFileSync(join(catalogDir, 'xid-catalog.csv'), 'utf8'), ['xid'], 'x');
    const sxidRows = csvRecords(readFileSync(join(catalogDir, 'sxid-catalog.csv'), 'utf8'), ['sxid'], 's');
    expect(XID_CATALOG.map((x) => x.code)).toEqual(xidRows.map((r) => Number(r.xid)).sort((a, b) => a - b));
    expect(SXID_CATALOG.map((x) => x.code)).toEqual(sxidRows.map((r) => Number(r.sxid)).sort((a, b) => a - b));
    // The one quoted record: commas inside the quotes stay in the field.
    const row45 = xidRows.find((r) => r.xid === '45')!;
    expect(xidInfo(45)!.description).toBe(row45.nvidia_description);
    expect(xidInfo(45)!.description).toContain('Preemptive cleanup, due to previous errors');
    expect(new Set(XID_IMMEDIATE_ACTIONS)).toEqual(new Set(xidRows.map((r) => r.nvidia_immediate_action).filter(Boolean)));
  });

  it('has a version made of the release and a content hash', () => {
    expect(XID_CATALOG_VERSION).toMatch(/^r590-\d+\+[0-9a-f]{12}$/);
  });

  it('changes the version when a CSV changes, and not for CRLF vs LF', () => {
    const x =
      'xid,nvidia_mnemonic,nvidia_description,nvidia_immediate_action,nvidia_investigatory_action,gpud_description,gpud_event_type,gpud_repair_actions\n1,A,"d, e",IGNORE,,,Info,\n';
    const s = 'sxid,name,gpud_event_type,gpud_repair_actions\n10001,Host_priv_error,Warning,\n';
    const version = (text: string) => /XID_CATALOG_VERSION = "([^"]+)"/.exec(text)![1];
    const base = version(renderCatalog(x, s));
    expect(version(renderCatalog(x.replace(/\n/g, '\r\n'), s))).toBe(base);
    expect(version(renderCatalog(x.replace('IGNORE', 'RESET_GPU'), s))).not.toBe(base);
  });
});

describe('catalog lookups', () => {
  it('describes the codes operators meet most', () => {
    expect(xidInfo(79)).toMatchObject({ mnemonic: 'ROBUST_CHANNEL_GPU_HAS_FALLEN_OFF_THE_BUS', immediateAction: 'RESTART_BM' });
    expect(xidInfo(13)!.immediateAction).toBe('RESTART_APP');
    expect(xidInfo(48)!.gpudRepairActions).toEqual(['RebootSystem', 'HardwareInspection']);
    expect(xidInfo(119)).toMatchObject({ mnemonic: 'GSP_RPC_TIMEOUT', immediateAction: 'RESET_GPU', description: 'GSP RPC Timeout' });
    expect(xidInfo(162)!.immediateAction).toBeNull();
    expect(FALLEN_OFF_BUS_XID).toBe(79);
    expect(sxidInfo(20034)).toMatchObject({ name: 'LTSSM Fault Up', eventType: 'Fatal' });
    expect(sxidInfo(12028)).not.toBeNull();
  });

  it('returns null for codes the catalog does not know, and for garbage', () => {
    for (const code of [0, -1, 9999, Number.NaN, 1.5]) {
      expect(xidInfo(code)).toBeNull();
      expect(sxidInfo(code)).toBeNull();
      expect(xidDescription(code)).toBeNull();
      expect(sxidDescription(code)).toBeNull();
    }
    expect(xidSeverity(9999)).toBe('warning');
    expect(sxidSeverity(99999)).toBe('warning');
    expect(sxidSeverity(99999, 'Fatal, Link 1')).toBe('critical');
    expect(sxidSeverity(99999, 'Non-fatal, Link 1')).toBe('warning');
  });

  it('derives severity from the immediate action', () => {
    expect(xidSeverity(43)).toBe('info'); // IGNORE
    expect(xidSeverity(13)).toBe('warning'); // RESTART_APP
    expect(xidSeverity(31)).toBe('warning');
    expect(xidSeverity(45)).toBe('warning'); // follows another Xid
    for (const code of [48, 62, 64, 74, 79, 95, 119, 120, 151]) expect(xidSeverity(code), `xid ${code}`).toBe('critical');
    // Every code the catalog gives RESET_GPU / RESTART_BM / CONTACT_SUPPORT is critical.
    for (const x of XID_CATALOG) {
      if (x.immediateAction === 'RESET_GPU' || x.immediateAction === 'RESTART_BM' || x.immediateAction === 'CONTACT_SUPPORT')
        expect(xidSeverity(x.code)).toBe('critical');
      if (x.immediateAction === 'IGNORE') expect(xidSeverity(x.code)).toBe('info');
    }
    // No action in the catalog: the health daemon's event type decides.
    expect(xidSeverity(162)).toBe('info');
    expect(xidSeverity(163)).toBe('warning');
  });

  it('reads Fatal / Nonfatal from NVLink5 lines and the new action from Xid 154', () => {
    expect(xidSeverity(145, 'RLW_RXPIPE Nonfatal XC0 i0 Link 13 (0x0409a0c2)')).toBe('warning');
    expect(xidSeverity(149, 'NETIR_LINK_EVT Fatal XC0 i0 Link 00')).toBe('critical');
    expect(xidSeverity(149)).toBe('critical');
    expect(xidSeverity(154, 'GPU recovery action changed from 0x1 (GPU Reset Required) to 0x0 (None)')).toBe('info');
    expect(xidSeverity(154, 'GPU recovery action changed from 0x0 (None) to 0x2 (Node Reboot Required)')).toBe('critical');
  });

  it('gives a description for people', () => {
    expect(xidDescription(79)).toBe('GPU has fallen off the bus');
    // NVIDIA marks 1-4 "Unused": the health daemon's text is more useful.
    expect(xidDescription(1)).toBe('Invalid or corrupted push buffer stream');
    expect(sxidDescription(10001)).toBe('Host_priv_error');
  });
});

describe('the CSV reader', () => {
  it('reads quotes, doubled quotes, commas and line breaks inside quotes, CRLF and a BOM', () => {
    expect(parseCsv('\ufeffa,b\r\n"x, y","say ""hi"""\r\n"two\nlines",\r\n')).toEqual([
      ['a', 'b'],
      ['x, y', 'say "hi"'],
      ['two\nlines', ''],
    ]);
    expect(parseCsv('a,b')).toEqual([['a', 'b']]);
    expect(parseCsv('""')).toEqual([['']]);
  });

  it('refuses malformed CSV with the line number', () => {
    expect(() => parseCsv('a,b\n"open,c\n')).toThrow(/unterminated quoted field starting on line 2/);
    expect(() => parseCsv('a\n"x"y\n')).toThrow(/text after a closing quote on line 2/);
    expect(() => csvRecords('xid,a\n1,2,3\n', ['xid'], 'f.csv')).toThrow(/record 2 has 3 fields/);
    expect(() => csvRecords('a,b\n', ['xid'], 'f.csv')).toThrow(/no "xid" column/);
    expect(() => csvRecords('', ['xid'], 'f.csv')).toThrow(/empty file/);
  });

  it('refuses a catalog with a bad or duplicated code', () => {
    const head =
      'xid,nvidia_mnemonic,nvidia_description,nvidia_immediate_action,nvidia_investigatory_action,gpud_description,gpud_event_type,gpud_repair_actions\n';
    const s = 'sxid,name,gpud_event_type,gpud_repair_actions\n';
    expect(() => renderCatalog(`${head}x1,,,,,,,\n`, s)).toThrow(/"x1" is not a code/);
    expect(() => renderCatalog(`${head}1,,,,,,,\n1,,,,,,,\n`, s)).toThrow(/code 1 appears twice/);
  });
});
