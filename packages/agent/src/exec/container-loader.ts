import type { ContainerOpFn } from './container-run.js';

/** Loads the container engine operation on first use, so agents that never see one never load the client. */
export async function loadContainerOp(): Promise<ContainerOpFn> {
  return (await import('../containers/index.js')).runContainerOp;
}
