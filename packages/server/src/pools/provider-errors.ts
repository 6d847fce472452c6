import { ProviderError } from './providers/cloud-provider.js';

/** Any failure of a provider call as a ProviderError: what an adapter did not map (a dropped connection, a bug) counts as transient. */
export function asProviderError(err: unknown): ProviderError {
  if (err instanceof ProviderError) return err;
  if (err instanceof Error && err.name === 'ProviderError' && 'kind' in err) return err as ProviderError;
  return new ProviderError('transient', err instanceof Error ? err.message : String(err));
}
