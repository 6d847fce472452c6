import { memo } from 'react';
import type { NodeView } from '@gpufleet/protocol';
import { cellTitle, healthOutline, heatCells, utilColor } from '../lib/heatmap.js';
import { useRouter } from '../lib/router.js';
import { Empty } from './states.js';

/** One cell per GPU: fill = utilization, outline = health; click opens the node. */
export const Heatmap = memo(function Heatmap({ nodes }: { nodes: readonly NodeView[] }) {
  const { navigate } = useRouter();
  const cells = heatCells(nodes);
  if (cells.length === 0) return <Empty>No GPUs reported yet.</Empty>;
  return (
    <>
      <div className="heatmap" data-testid="heatmap" role="list" aria-label="GPU utilization">
        {cells.map((c) => (
          <button
            key={c.key}
            type="button"
            role="listitem"
            className={`heatmap-cell outline-${healthOutline(c.health)}`}
            style={{ background: utilColor(c.util, c.offline) }}
            title={cellTitle(c)}
            aria-label={cellTitle(c).replace(/\n/g, ', ')}
            data-testid="heatmap-cell"
            data-node={c.hostname}
            data-gpu={c.index}
            data-health={c.health}
            data-util={c.util ?? ''}
            onClick={() => navigate(`/nodes/${encodeURIComponent(c.hostname)}`)}
          />
        ))}
      </div>
      <div className="legend" aria-hidden="true">
        <span>0%</span>
        <span className="legend-ramp" />
        <span>100%</span>
        <span className="heatmap-cell outline-degraded" style={{ width: 12, display: 'inline-block', background: 'var(--heat-none)' }} /> degraded
        <span className="heatmap-cell outline-unhealthy" style={{ width: 12, display: 'inline-block', background: 'var(--heat-none)' }} /> unhealthy
        <span>grey: no reading / offline</span>
      </div>
    </>
  );
});
