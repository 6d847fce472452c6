import type { AllocationView } from '@gpufleet/protocol';
import { termSafe } from '../output.js';
import { relativeTime } from '../units.js';
import { healthCell, statusCell } from './job-views.js';

function field(name: string, value: string): string {
  return `${`${name}:`.padEnd(13)}${termSafe(value)}\n`;
}

/** `allocs status` for people: where the allocation runs, on which GPUs, and how it is doing. */
export function renderAllocDetail(a: AllocationView, now: number): string {
  let out = '';
  out += field('Allocation', `${a.job}/${a.name}`);
  out += field('ID', a.id);
  out += field('Job', `${a.job} version ${a.jobVersion}, group ${a.group} #${a.index}`);
  out += field('Node', `${a.hostname} (${a.nodeId})`);
  out += field('Status', `${statusCell(a)} (wanted: ${a.desired})`);
  out += field('Health', healthCell(a));
  out += field('Restarts', String(a.restarts));
  if (a.exitCode !== null) out += field('Exit code', String(a.exitCode));
  if (a.message) out += field('Message', a.message);
  if (a.stopCause) out += field('Stop cause', a.stopCause);
  if (a.replaces) out += field('Replaces', a.replaces);
  if (a.replacedBy) out += field('Replaced by', a.replacedBy);
  out += field('Created', `${a.createdAt} (${relativeTime(a.createdAt, now)})`);
  out += field('Updated', `${a.updatedAt} (${relativeTime(a.updatedAt, now)})`);
  if (a.gpus.length === 0) out += field('GPUs', 'none');
  else {
    out += 'GPUs:\n';
    for (const g of a.gpus) out += `  ${termSafe(`${g.index}  ${g.uuid ?? '(no UUID)'}  ${g.name ?? ''}`.trimEnd())}\n`;
  }
  return out;
}
