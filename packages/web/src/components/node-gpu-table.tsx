import { useMutation, useQueryClient } from '@tanstack/react-query';
import type { NodeView } from '@gpufleet/protocol';
import { useApi, useCan } from '../lib/auth.js';
import { formatBytesOf, formatPct, formatTemp, formatWatts, shortModel } from '../lib/format.js';
import { putNode } from '../lib/node-cache.js';
import { isStale } from '../lib/stale.js';
import { useConfirm } from './dialog.js';
import { Badge, Empty } from './states.js';

/** What each GPU action does, told in the confirmation before it happens. */
const GPU_ACTIONS = {
  cordon: { label: 'Cordon', body: "No new work is placed on this GPU; the node's other GPUs stay usable. Work already running on it keeps running." },
  uncordon: { label: 'Uncordon', body: 'New work may be placed on this GPU again.' },
} as const;

/** A node's GPUs with their readings (dimmed when the node is not connected) and cordon actions. */
export function GpuTable({ n }: { n: NodeView }) {
  const api = useApi();
  const qc = useQueryClient();
  const confirm = useConfirm();
  const canAct = useCan('operator');
  const act = useMutation({
    mutationFn: ({ gpu, op, reason }: { gpu: number; op: 'cordon' | 'uncordon'; reason: string }) =>
      api.post<NodeView>(`/api/v1/nodes/${encodeURIComponent(n.id)}/gpus/${gpu}/${op}`, reason ? { reason } : {}),
    onSuccess: (v) => putNode(qc, v),
  });
  // Like every other action: what it does, and why, kept with the GPU and in the timeline.
  const run = async (gpu: number, op: keyof typeof GPU_ACTIONS) => {
    const a = GPU_ACTIONS[op];
    const reason = await confirm({ title: `${a.label} GPU ${gpu} of ${n.hostname}?`, body: a.body, confirmLabel: a.label, reason: 'optional' });
    if (reason === null) return;
    act.mutate({ gpu, op, reason });
  };
  const stale = isStale(n);
  if (n.gpus.length === 0) return <Empty>This node reports no GPUs.</Empty>;
  return (
    <>
      <div className="table-wrap">
        <table>
          <thead>
            <tr>
              <th>#</th>
              <th>Model</th>
              <th>State</th>
              <th>Health</th>
              <th className="num">Util</th>
              <th className="num">Memory</th>
              <th className="num">Temp</th>
              <th className="num">Power</th>
              {canAct && <th>Actions</th>}
            </tr>
          </thead>
          <tbody>
            {[...n.gpus]
              .sort((a, b) => a.index - b.index)
              .map((g) => (
                <tr
                  key={g.index}
                  data-testid="gpu-row"
                  data-index={g.index}
                  data-state={g.state}
                  data-health={g.health.verdict}
                  data-stale={stale ? 'true' : undefined}
                  className={stale ? 'stale' : undefined}
                  title={stale ? 'Readings from when the node was last seen, not live' : undefined}
                >
                  <td>{g.index}</td>
                  <td title={`${g.name ?? ''}\n${g.uuid ?? ''}\n${g.pciBusId ?? ''}`}>{shortModel(g.name)}</td>
                  <td>
                    <Badge value={g.state} />
                    {g.stateChange?.reason && <span className="muted"> {g.stateChange.reason}</span>}
                  </td>
                  <td title={g.health.cause ?? ''}>
                    <Badge value={g.health.verdict} />
                    {g.health.rule && <span className="muted"> {g.health.rule}</span>}
                  </td>
                  <td className="num">{formatPct(g.sample?.utilizationPct)}</td>
                  <td className="num">{formatBytesOf(g.sample?.memoryUsedBytes, g.sample?.memoryTotalBytes ?? g.memoryTotalBytes)}</td>
                  <td className="num">{formatTemp(g.sample?.temperatureC)}</td>
                  <td className="num">{formatWatts(g.sample?.powerDrawW)}</td>
                  {canAct && (
                    <td>
                      {g.state === 'READY' ? (
                        <button
                          type="button"
                          className="btn btn-small"
                          disabled={act.isPending}
                          onClick={() => void run(g.index, 'cordon')}
                          data-testid={`gpu-cordon-${g.index}`}
                        >
                          Cordon
                        </button>
                      ) : g.state === 'CORDONED' ? (
                        <button
                          type="button"
                          className="btn btn-small"
                          disabled={act.isPending}
                          onClick={() => void run(g.index, 'uncordon')}
                          data-testid={`gpu-uncordon-${g.index}`}
                        >
                          Uncordon
                        </button>
                      ) : (
                        <span className="muted">clear health to return it</span>
                      )}
                    </td>
                  )}
                </tr>
              ))}
          </tbody>
        </table>
      </div>
      {act.error && (
        <p className="form-error" role="alert">
          {(act.error as Error).message}
        </p>
      )}
    </>
  );
}
