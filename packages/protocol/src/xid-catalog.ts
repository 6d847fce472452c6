/**
 * The one XID / SXid knowledge base: NVIDIA's r590 XID catalog (mnemonic, description,
 * immediate and investigatory action) plus a health daemon's description, event type and repair
 * actions, and the NVSwitch SXid list. The data is generated from catalog/*.csv into
 * xid-catalog.generated.ts; this file adds the types and the lookups. The agent, the server,
 * `gpufleet diagnose`, the API and the docs all read it from here: there is no second copy.
 */
import { SXID_CATALOG, XID_CATALOG, type XID_IMMEDIATE_ACTIONS } from './xid-catalog.generated.js';

export { CATALOG_EVENT_TYPES, SXID_CATALOG, XID_CATALOG, XID_CATALOG_VERSION, XID_IMMEDIATE_ACTIONS } from './xid-catalog.generated.js';

/** What NVIDIA says to do first about an XID (RESTART_APP, RESET_GPU, RESTART_BM, ...). */
export type XidImmediateAction = (typeof XID_IMMEDIATE_ACTIONS)[number];

/** One XID code as the catalog describes it; a column the catalog leaves empty is null. */
export interface XidEntry {
  code: number;
  /** NVIDIA's mnemonic, e.g. ROBUST_CHANNEL_GPU_HAS_FALLEN_OFF_THE_BUS. */
  mnemonic: string | null;
  /** NVIDIA's description. */
  description: string | null;
  immediateAction: XidImmediateAction | null;
  investigatoryAction: string | null;
  /** The health daemon's (gpud) description. */
  gpudDescription: string | null;
  /** gpud's event type: Fatal, Warning or Info. */
  gpudEventType: string | null;
  /** gpud's repair actions, e.g. ['RebootSystem', 'HardwareInspection']. */
  gpudRepairActions: readonly string[];
}

/** One NVSwitch SXid code. */
export interface SxidEntry {
  code: number;
  /** e.g. Host_priv_error. */
  name: string | null;
  /** gpud's event type: Fatal or Warning. */
  eventType: string | null;
  repairActions: readonly string[];
}

export type CatalogSeverity = 'info' | 'warning' | 'critical';

/** XID 79: the GPU has fallen off the bus (also what the un-numbered kernel forms count as). */
export const FALLEN_OFF_BUS_XID = 79;

const xidByCode = new Map<number, XidEntry>(XID_CATALOG.map((x) => [x.code, x]));
const sxidByCode = new Map<number, SxidEntry>(SXID_CATALOG.map((x) => [x.code, x]));

/** The catalog entry of an XID code, or null when the catalog does not know it. */
export function xidInfo(code: number): XidEntry | null {
  return xidByCode.get(code) ?? null;
}

/** The catalog entry of an NVSwitch SXid code, or null when the catalog does not know it. */
export function sxidInfo(code: number): SxidEntry | null {
  return sxidByCode.get(code) ?? null;
}

function fromEventType(type: string | null): CatalogSeverity {
  if (type === 'Fatal') return 'critical';
  if (type === 'Info') return 'info';
  return 'warning';
}

/**
 * How bad an XID is, derived from NVIDIA's immediate action:
 * - IGNORE -> info: NVIDIA says no action is needed (43, 63, 92, ...).
 * - RESTART_APP -> warning: an application fault; the GPU is fine (13, 31, 94, ...). The server
 *   policy escalates repeats; severity here is one line's.
 * - WORKFLOW_XID_45 and CHECK_UVM -> warning: cleanup or a sympathetic report that follows
 *   another error; that other line carries the real severity.
 * - WORKFLOW_NVLINK5_ERR (144-150) -> the line itself says `Fatal` or `Nonfatal`: critical or
 *   warning; critical when the message is not given.
 * - XID_154 (recovery action changed) -> info when the new action is "None", else critical.
 * - Every other action (RESET_GPU, RESTART_BM, RESTART_VM, CONTACT_SUPPORT, WORKFLOW_XID_48,
 *   WORKFLOW_NVLINK_ERR, UPDATE_SWFW, CHECK_MECHANICALS) -> critical: the GPU needs a reset,
 *   a reboot or a person.
 * - No immediate action in the catalog (162-173) -> the health daemon's event type
 *   (Fatal -> critical, Info -> info, else warning); an unknown code -> warning.
 */
export function xidSeverity(code: number, message?: string): CatalogSeverity {
  const entry = xidInfo(code);
  if (!entry) return 'warning';
  switch (entry.immediateAction) {
    case 'IGNORE':
      return 'info';
    case 'RESTART_APP':
    case 'WORKFLOW_XID_45':
    case 'CHECK_UVM':
      return 'warning';
    case 'WORKFLOW_NVLINK5_ERR':
      return message !== undefined && /\bnon-?fatal\b/i.test(message) ? 'warning' : 'critical';
    case 'XID_154':
      if (message === undefined) return 'warning';
      // "GPU recovery action changed from 0x0 (None) to 0x1 (GPU Reset Required)": judge the new one.
      return /\bto\s+0x0+\s*\(none\)/i.test(message) ? 'info' : 'critical';
    case null:
      return fromEventType(entry.gpudEventType);
    default:
      return 'critical';
  }
}

/** How bad an SXid is: the health daemon's event type (Fatal -> critical, else warning). */
export function sxidSeverity(code: number, message?: string): CatalogSeverity {
  const entry = sxidInfo(code);
  if (entry) return fromEventType(entry.eventType);
  // Unknown code: trust the line's own word when it has one.
  if (message !== undefined && /(^|[\s,])fatal\b/i.test(message) && !/non-?fatal/i.test(message)) return 'critical';
  return 'warning';
}

/** One line for people: NVIDIA's description, else the health daemon's, else the mnemonic. */
export function xidDescription(code: number): string | null {
  const e = xidInfo(code);
  if (!e) return null;
  const nvidia = e.description && e.description !== 'Unused' ? e.description : null;
  return nvidia ?? e.gpudDescription ?? e.mnemonic ?? e.description;
}

/** One line for people about an SXid: its catalog name (e.g. Host_priv_error). */
export function sxidDescription(code: number): string | null {
  return sxidInfo(code)?.name ?? null;
}
