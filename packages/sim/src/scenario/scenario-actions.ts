import { randomBytes } from 'node:crypto';
import { FleetError, generateEd25519, signJob, type JobPayload, type SubmitJobResponse } from '@gpufleet/protocol';
import type { ActionSpec } from './action-spec.js';
import { replyError, type ScenarioApi } from './scenario-api.js';
import type { ScenarioJob } from './scenario-jobs.js';

/** The scenario's operator: a key made for the run, set as the fleet root before any host joins. */
export interface ScenarioOperator {
  did: string;
  privateKeyPem: string;
}

/**
 * Makes the run's operator key and makes it the server's first fleet root, so the join token
 * (and so every simulated host) carries it and hosts accept the jobs it signs, as `gpufleet
 * demo` does with its demo key.
 */
export async function makeScenarioOperator(api: ScenarioApi): Promise<ScenarioOperator> {
  const key = generateEd25519();
  const r = await api.post('/api/v1/roots/init', { did: key.did });
  if (r.status !== 201 && r.status !== 200) throw new FleetError('unavailable', `could not make the scenario's key the fleet root: ${replyError(r)}`);
  return { did: key.did, privateKeyPem: key.privateKeyPem };
}

/**
 * Runs one scenario action through the REST API; answers a line for the report. Throws
 * FleetError with the server's answer when the server refuses it.
 */
export async function runScenarioAction(action: ActionSpec, job: ScenarioJob | null, api: ScenarioApi, operator: ScenarioOperator | null): Promise<string> {
  switch (action.action) {
    case 'submit': {
      if (!job || !operator) throw new FleetError('internal', 'a submit needs its job and the scenario operator (loadScenario reads it)');
      const payload: JobPayload = {
        v: 1,
        job: job.spec,
        issuedAt: Date.now(),
        nonce: randomBytes(16).toString('hex'),
        invoker: operator.did,
        capability: null,
      };
      const signed = signJob(payload, operator.privateKeyPem);
      const r = await api.post<SubmitJobResponse>('/api/v1/jobs', { signed, source: job.source });
      if (r.status !== 201 && r.status !== 200)
        throw new FleetError('failed_precondition', `the server refused job ${job.spec.name} (${job.from}): ${replyError(r)}`);
      const plan = r.body.plan;
      const failures = Array.isArray(plan?.failures) ? plan.failures.map((f) => `${f.group}: ${f.message}`) : [];
      return (
        `job ${job.spec.name} version ${r.body.job?.version ?? '?'} ${r.body.created ? 'submitted' : 'unchanged (same spec)'}: ` +
        `${plan?.placements?.length ?? 0} placed${failures.length > 0 ? `; cannot place ${failures.join('; ')}` : ''}`
      );
    }
    case 'stop': {
      const r = await api.post(`/api/v1/jobs/${encodeURIComponent(action.job)}/stop`, { reason: 'scenario', ...(action.purge ? { purge: true } : {}) });
      if (r.status !== 200 && r.status !== 204) throw new FleetError('failed_precondition', `stopping job ${action.job}: ${replyError(r)}`);
      return `job ${action.job} stopped${action.purge ? ' and purged' : ''}`;
    }
    case 'drain': {
      const body = { reason: action.reason ?? 'scenario drain', ...(action.deadline === undefined ? {} : { timeout: `${action.deadline}ms` }) };
      const r = await api.post<{ status?: string }>(`/api/v1/nodes/${encodeURIComponent(action.node)}/drain`, body);
      if (r.status !== 200) throw new FleetError('failed_precondition', `draining ${action.node}: ${replyError(r)}`);
      return `${action.node} draining${action.deadline === undefined ? '' : ` (deadline ${action.deadline / 1000} s)`}`;
    }
  }
}
