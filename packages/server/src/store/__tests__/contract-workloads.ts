import type { StoreRef } from './contract-helpers.js';
import { allocationContract } from './contract-allocations.js';
import { jobContract } from './contract-jobs.js';
import { workloadRaceContract } from './contract-workload-races.js';

/** Contract cases for workloads (0007_workloads): jobs, versions, deployments, plans and claims, output, races. */
export function workloadContract(store: StoreRef): void {
  jobContract(store);
  allocationContract(store);
  workloadRaceContract(store);
}
