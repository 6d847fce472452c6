import type { NodeView } from '@gpufleet/protocol';
import { formatBytes, formatBytesUsage, formatPct } from '../lib/format.js';
import { isStale } from '../lib/stale.js';
import { Badge, Time } from './states.js';

/** Says that the readings on the page are history, and how old. */
export function StaleNote({ n }: { n: NodeView }) {
  if (!isStale(n)) return null;
  return (
    <p className="stale-note" role="status" data-testid="node-stale-note">
      {n.status === 'DECOMMISSIONED' ? 'Removed from the fleet' : 'Offline'}: last seen <Time at={n.lastSeenAt} />. The readings on this page are from then, not
      live.
    </p>
  );
}

/** What the node is and what it reads now (or read when last seen, dimmed), with units. */
export function Facts({ n }: { n: NodeView }) {
  const f = n.facts;
  const g0 = n.gpus[0];
  const stale = isStale(n) ? 'stale' : undefined;
  // Live disk readings when the node sends them, else what it reported at its last inventory.
  const disks = n.host && n.host.disks.length > 0 ? n.host.disks : f.disks;
  return (
    <dl className="kv">
      <dt>Status</dt>
      <dd>
        <Badge value={n.status} testid="node-status" />{' '}
        {n.statusChange && (
          <span className="muted">
            by {n.statusChange.by}
            {n.statusChange.reason ? `: ${n.statusChange.reason}` : ''} <Time at={n.statusChange.at} />
          </span>
        )}
      </dd>
      <dt>Health</dt>
      <dd>
        <Badge value={n.health.verdict} /> {n.health.cause && <span className="muted">{n.health.cause}</span>}
      </dd>
      <dt>Last seen</dt>
      <dd>{n.connected ? 'connected' : <Time at={n.lastSeenAt} />}</dd>
      <dt>OS</dt>
      <dd>
        {f.os.name} {f.os.version} ({f.arch})
      </dd>
      <dt>Kernel</dt>
      <dd className="mono">{f.kernel}</dd>
      <dt>CPU</dt>
      <dd className={stale}>
        {f.cpu.model} · {f.cpu.cores} cores / {f.cpu.threads} threads{n.host ? ` · ${formatPct(n.host.cpuPct)} busy, load ${n.host.load1.toFixed(2)}` : ''}
      </dd>
      <dt>Memory</dt>
      <dd className={stale} data-testid="node-memory">
        {n.host ? formatBytesUsage(n.host.memoryUsedBytes, n.host.memoryTotalBytes) : `${formatBytes(f.memoryTotalBytes)} total`}
      </dd>
      <dt>Disks</dt>
      <dd className={stale} data-testid="node-disks">
        {disks.map((d) => `${d.mount} ${formatBytesUsage(d.usedBytes, d.totalBytes)}`).join(' · ') || '—'}
      </dd>
      <dt>Network</dt>
      <dd>{f.network.map((i) => `${i.name} ${i.addresses.join(', ')}`).join(' · ') || '—'}</dd>
      <dt>Driver</dt>
      <dd>
        {g0?.driverVersion ?? '—'}
        {g0?.runtimeVersion ? ` · runtime ${g0.runtimeVersion}` : ''}
      </dd>
      <dt>Agent</dt>
      <dd>
        {n.agentVersion}
        {n.simulated ? ' (simulated)' : ''}
      </dd>
      <dt>Node id</dt>
      <dd className="mono">{n.id}</dd>
    </dl>
  );
}
