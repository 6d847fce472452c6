import { ALLOC_ID, GROUP_NAME, JOB_NAME } from '@gpufleet/protocol';
import { seg } from '../api-client.js';
import { UsageError } from '../errors.js';

/**
 * The API path of an allocation people name as `JOB/NAME` (`llama/web-0`: the newest allocation
 * with that name) or by its id.
 */
export function allocPath(ref: string): string {
  const slash = ref.indexOf('/');
  if (slash >= 0) {
    const job = ref.slice(0, slash);
    const name = ref.slice(slash + 1);
    const m = /^(.+)-(\d{1,5})$/.exec(name);
    if (!JOB_NAME.test(job) || !m || !GROUP_NAME.test(m[1]!)) {
      throw new UsageError(`'${ref}' is not JOB/NAME such as llama/web-0 (see gpufleet allocs ls)`);
    }
    return `/api/v1/jobs/${seg(job)}/allocations/${seg(name)}`;
  }
  if (!ALLOC_ID.test(ref)) throw new UsageError(`'${ref}' is neither JOB/NAME such as llama/web-0 nor an allocation id (see gpufleet allocs ls)`);
  return `/api/v1/allocations/${seg(ref)}`;
}
