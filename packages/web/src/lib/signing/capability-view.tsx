import type { Capability } from '@gpufleet/protocol';
import { formatAbsolute, formatRelative } from '../format.js';
import { summarizeCapability } from './capability-file.js';

/** What a capability grants: abilities, the hosts it covers (every link's selector), and its time window. */
export function CapabilityView({ capability, now }: { capability: Capability; now: number }) {
  const s = summarizeCapability(capability);
  const expired = s.expires < now;
  const pending = s.validFrom > now;
  return (
    <dl className="kv" data-testid="key-capability">
      <dt>Abilities</dt>
      <dd className="mono" data-testid="key-capability-can">
        {s.can.join(', ')}
      </dd>
      <dt>Hosts</dt>
      <dd className="mono" data-testid="key-capability-on">
        {s.on.map((on, i) => (
          <span key={i}>
            {i > 0 && <span className="muted"> and </span>}
            {on === '' || on === '*' ? 'every host' : on}
          </span>
        ))}
      </dd>
      <dt>Valid</dt>
      <dd data-testid="key-capability-exp">
        {pending && <strong className="form-error">not yet valid: from {formatAbsolute(s.validFrom)}. </strong>}
        {expired ? (
          <strong className="form-error">expired {formatAbsolute(s.expires)}</strong>
        ) : (
          <>
            until {formatAbsolute(s.expires)} ({formatRelative(s.expires, now)})
          </>
        )}
      </dd>
      <dt>Granted by</dt>
      <dd className="mono">{s.issuers.join(' → ')}</dd>
    </dl>
  );
}
