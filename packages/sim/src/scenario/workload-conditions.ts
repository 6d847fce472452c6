import type { AllocationView, JobDetailView } from '@gpufleet/protocol';
import type { Observation } from './conditions.js';
import { replyError, type ScenarioApi } from './scenario-api.js';
import type { AllocationsCondition, AllocCondition, JobCondition } from './scenario-schema.js';

/*
 * Conditions on workloads, checked through the REST API as `gpufleet jobs status` and
 * `gpufleet allocs ls` read it: a job, one allocation (the newest of a name), and how many
 * allocations match a filter.
 */

const list = (v: string | readonly string[]) => (Array.isArray(v) ? v : [v]) as readonly string[];
const gpusOf = (a: Pick<AllocationView, 'gpus'>) => (Array.isArray(a.gpus) ? a.gpus.map((g) => g.index).join(',') : '');
/** `web-0 running on sim-h100-001 GPU 3` */
const where = (a: AllocationView) => `${a.name} ${a.status} on ${a.hostname}${gpusOf(a) === '' ? '' : ` GPU ${gpusOf(a)}`}`;

export function describeJobCondition(c: JobCondition): string {
  const parts: string[] = [];
  if (c.status !== undefined) parts.push(`status ${list(c.status).join('|')}`);
  if (c.version !== undefined) parts.push(`version ${c.version}`);
  if (c.running !== undefined) parts.push(`${c.running} running`);
  if (c.deployment !== undefined) parts.push(`update ${c.deployment}`);
  if (c.versions !== undefined)
    parts.push(
      Object.entries(c.versions)
        .map(([v, st]) => `version ${v} ${st}`)
        .join(', '),
    );
  if (c.counts !== undefined)
    parts.push(
      `allocations ${Object.entries(c.counts)
        .map(([s, n]) => `${n} ${s}`)
        .join(', ')}`,
    );
  if (c.replaced !== undefined) parts.push(c.replaced.length === 0 ? 'none replaced' : `replaced exactly ${[...c.replaced].sort().join(', ')}`);
  return `job ${c.job} ${parts.join(', ')}`;
}

export function describeAllocCondition(c: AllocCondition): string {
  const parts: string[] = [];
  if (c.status !== undefined) parts.push(`status ${list(c.status).join('|')}`);
  if (c.node !== undefined) parts.push(`on ${c.node}`);
  if (c.healthy !== undefined) parts.push(c.healthy ? 'healthy' : 'unhealthy');
  if (c.restarts !== undefined) parts.push(`${c.restarts} restarts`);
  if (c.moved !== undefined) parts.push(c.moved ? 'moved' : 'not moved');
  if (c.version !== undefined) parts.push(`version ${c.version}`);
  return `allocation ${c.alloc} ${parts.join(', ')}`;
}

export function describeAllocationsCondition(c: AllocationsCondition): string {
  const f = c.allocations;
  const filters = [
    f.job === undefined ? '' : `of ${f.job}`,
    f.node === undefined ? '' : `on ${f.node}`,
    f.status === undefined ? '' : list(f.status).join('|'),
    f.version === undefined ? '' : `version ${f.version}`,
  ].filter((x) => x !== '');
  return `${f.count} allocation(s)${filters.length > 0 ? ` ${filters.join(', ')}` : ''}`;
}

/** Every allocation of a job (every version and state), or of the fleet. */
async function allocations(api: ScenarioApi, job: string | undefined): Promise<{ items: AllocationView[] } | { error: string }> {
  const r = await api.get<{ items: AllocationView[] }>('/api/v1/allocations', { job });
  if (r.status !== 200) return { error: `allocations: ${replyError(r)}` };
  return { items: Array.isArray(r.body?.items) ? r.body.items : [] };
}

export async function observeJob(c: JobCondition, api: ScenarioApi): Promise<Observation> {
  const r = await api.get<JobDetailView>(`/api/v1/jobs/${encodeURIComponent(c.job)}`);
  if (r.status !== 200) return { ok: false, seen: `job ${c.job}: ${replyError(r)}` };
  const job = r.body;
  let ok = true;
  const seen: string[] = [];
  if (c.status !== undefined) {
    ok &&= list(c.status).includes(job.status);
    seen.push(`status ${job.status}`);
  }
  if (c.version !== undefined) {
    ok &&= job.version === c.version;
    seen.push(`version ${job.version}`);
  }
  if (c.running !== undefined) {
    ok &&= job.running === c.running;
    seen.push(`${job.running} of ${job.desired} running`);
  }
  if (c.deployment !== undefined) {
    ok &&= job.deployment?.state === c.deployment;
    seen.push(job.deployment ? `update to version ${job.deployment.toVersion} ${job.deployment.state}: ${job.deployment.message}` : 'no update');
  }
  if (c.versions !== undefined) {
    const versions = Array.isArray(job.versions) ? job.versions : [];
    for (const [v, want] of Object.entries(c.versions)) ok &&= versions.find((x) => x.version === Number(v))?.status === want;
    seen.push(`versions ${versions.map((x) => `${x.version} ${x.status}`).join(', ') || 'none'}`);
  }
  if (c.counts !== undefined || c.replaced !== undefined) {
    const all = await allocations(api, c.job);
    if ('error' in all) return { ok: false, seen: all.error };
    if (c.counts !== undefined) {
      const counted = Object.entries(c.counts).map(([status, want]) => {
        const n = all.items.filter((a) => a.status === status).length;
        ok &&= n === want;
        return `${n} ${status}`;
      });
      seen.push(`allocations: ${counted.join(', ')} (${all.items.length} in all)`);
    }
    if (c.replaced !== undefined) {
      const replaced = [...new Set(all.items.filter((a) => a.replacedBy !== null).map((a) => a.name))].sort();
      const want = [...new Set(c.replaced)].sort();
      ok &&= replaced.length === want.length && replaced.every((n, i) => n === want[i]);
      seen.push(replaced.length === 0 ? 'none replaced' : `replaced: ${replaced.join(', ')}`);
    }
  }
  return { ok, seen: `job ${c.job}: ${seen.join(', ')}` };
}

export async function observeAlloc(c: AllocCondition, api: ScenarioApi): Promise<Observation> {
  const slash = c.alloc.indexOf('/');
  const job = c.alloc.slice(0, slash);
  const name = c.alloc.slice(slash + 1);
  const r = await api.get<AllocationView>(`/api/v1/jobs/${encodeURIComponent(job)}/allocations/${encodeURIComponent(name)}`);
  if (r.status !== 200) return { ok: false, seen: `allocation ${c.alloc}: ${replyError(r)}` };
  const a = r.body;
  let ok = true;
  const seen = [`${c.alloc} (${a.id}) ${where(a)}`];
  if (c.status !== undefined) ok &&= list(c.status).includes(a.status);
  if (c.node !== undefined) ok &&= a.hostname === c.node;
  if (c.healthy !== undefined) {
    ok &&= a.healthy === c.healthy;
    seen.push(a.healthy === null ? 'health unknown' : a.healthy ? 'healthy' : 'unhealthy');
  }
  if (c.restarts !== undefined) {
    ok &&= a.restarts === c.restarts;
    seen.push(`${a.restarts} restarts`);
  }
  if (c.version !== undefined) {
    ok &&= a.jobVersion === c.version;
    seen.push(`version ${a.jobVersion}`);
  }
  if (c.moved !== undefined) {
    let moved = false;
    if (a.replaces === null) seen.push('replaces nothing');
    else {
      const p = await api.get<AllocationView>(`/api/v1/allocations/${encodeURIComponent(a.replaces)}`);
      if (p.status !== 200) return { ok: false, seen: `${seen.join(', ')}; the allocation it replaces (${a.replaces}): ${replyError(p)}` };
      // Moved: somewhere else now, not the same node and GPUs again.
      moved = p.body.hostname !== a.hostname || gpusOf(p.body) !== gpusOf(a);
      seen.push(`replaces ${p.body.id} (${where(p.body)}${p.body.stopCause ? `, ${p.body.stopCause}` : ''})`);
    }
    ok &&= moved === c.moved;
  }
  return { ok, seen: seen.join(', ') };
}

export async function observeAllocations(c: AllocationsCondition, api: ScenarioApi): Promise<Observation> {
  const f = c.allocations;
  const all = await allocations(api, f.job);
  if ('error' in all) return { ok: false, seen: all.error };
  const hits = all.items.filter(
    (a) =>
      (f.node === undefined || a.hostname === f.node) &&
      (f.status === undefined || list(f.status).includes(a.status)) &&
      (f.version === undefined || a.jobVersion === f.version),
  );
  const shown = hits.slice(0, 6).map(where);
  return {
    ok: hits.length === f.count,
    seen: `${hits.length} match${hits.length === 0 ? '' : `: ${shown.join('; ')}${hits.length > 6 ? '; ...' : ''}`} (${all.items.length} listed)`,
  };
}
