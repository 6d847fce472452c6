import { xidDescription, xidInfo, xidSeverity, sxidDescription, sxidSeverity, type CatalogSeverity } from '@gpufleet/protocol';
import { matchDriverMessage } from './driver-messages.js';
import type { KernelEvent } from './kernel-line.js';

/** What the catalog (or the driver-message table) says about one kernel event. */
export interface KernelEventInfo {
  severity: CatalogSeverity;
  /** NVIDIA's immediate action for Xid codes (RESTART_APP, RESET_GPU, ...); null for other kinds. */
  action: string | null;
  description: string | null;
  /** Short name for people: `Xid 13`, `SXid 20034`, `fallen off the bus`, `driver`. */
  title: string;
}

/**
 * Severity, action and description of a kernel event from the one XID/SXid catalog: Xid and
 * the fallen-off-bus forms (as Xid 79) from the XID table, SXid from the NVSwitch table, driver
 * messages from the driver-message table.
 */
export function describeKernelEvent(ev: Pick<KernelEvent, 'kind' | 'code' | 'message' | 'line'>): KernelEventInfo {
  switch (ev.kind) {
    case 'xid':
    case 'fallen-off-bus': {
      const code = ev.code ?? 79;
      return {
        severity: xidSeverity(code, ev.message),
        action: xidInfo(code)?.immediateAction ?? null,
        description: xidDescription(code),
        title: ev.kind === 'xid' ? `Xid ${code}` : 'fallen off the bus',
      };
    }
    case 'sxid':
      return {
        severity: ev.code === null ? 'warning' : sxidSeverity(ev.code, ev.message),
        action: null,
        description: ev.code === null ? null : sxidDescription(ev.code),
        title: `SXid ${ev.code ?? '?'}`,
      };
    case 'driver': {
      const d = matchDriverMessage(ev.line) ?? matchDriverMessage(`NVRM: ${ev.message}`);
      return { severity: d?.severity ?? 'warning', action: null, description: d?.description ?? null, title: 'driver' };
    }
  }
}
