import { shortUuid, type AllocGpuView } from '../lib/workloads.js';

/** The GPUs of an allocation (or a planned one): each index, with its UUID cut short (whole, and the model, on hover). */
export function AllocGpus({ gpus }: { gpus: readonly AllocGpuView[] }) {
  if (gpus.length === 0) return <span className="muted">no GPU</span>;
  return (
    <>
      {[...gpus]
        .sort((x, y) => x.index - y.index)
        .map((g) => (
          <span key={g.index} className="alloc-gpu" title={`${g.name ?? 'unknown model'}\n${g.uuid ?? 'no UUID'}`} data-gpu={g.index} data-uuid={g.uuid ?? ''}>
            <strong>{g.index}</strong> <span className="mono muted">{shortUuid(g.uuid)}</span>
          </span>
        ))}
    </>
  );
}
