import { jobSpecHash, verifySignedJob, type JobSpec, type SignedJob } from '@gpufleet/protocol';
import { FakeEventSource, type FakeRunNetwork } from './fake-run-network.js';
import { FakeApi, fakeError } from './fake-api.js';
import { jobDetailFixture, jobSpecFixture, planFixture } from './job-fixture.js';
import type { AllocationView, JobDetailView, JobSummaryView } from '../lib/workloads.js';

/*
 * The workloads API as component tests see it (protocol workload-views.ts shapes): jobs kept in
 * memory, a job file "parsed" from its `name:` and `count:` lines, a submission checked with the
 * host's own verifier (verifySignedJob, the signing key as a fleet root), and allocation log
 * streams the test drives. Every call is recorded by the FakeApi.
 */

/** A refusal as the server writes it for a bad job file: the first problem in the message, all in details. */
export function jobFileRefusalReply(problems: Array<{ line: number; col: number; path: string; message: string }>) {
  const [first] = problems;
  return {
    status: 400,
    body: {
      error: {
        code: 'invalid_argument',
        message: `line ${first!.line}:${first!.col}: ${first!.path}: ${first!.message}`,
        details: { file: null, problems },
      },
    },
  };
}

export class FakeWorkloadApi {
  readonly jobs = new Map<string, JobDetailView>();
  readonly streams: FakeEventSource[] = [];
  /** The did:key hosts take as a fleet root: submissions signed by another key are refused. */
  root: string | null = null;

  readonly api = new FakeApi()
    .on('POST', '/api/v1/jobs/parse', (call) => {
      const source = String((call.body as { source?: unknown }).source ?? '');
      const parsed = this.parse(source);
      if ('refusal' in parsed) return parsed.refusal;
      return { status: 200, body: { spec: parsed.spec, specHash: jobSpecHash(parsed.spec) } };
    })
    .on('POST', '/api/v1/jobs/plan', (call) => {
      const parsed = this.parse(String((call.body as { source?: unknown }).source ?? ''));
      if ('refusal' in parsed) return parsed.refusal;
      const count = parsed.spec.allocations.web?.count ?? 1;
      // Two fit on gpu-a; the rest cannot be placed.
      return { status: 200, body: planFixture(parsed.spec.name, Math.min(2, count), Math.max(0, count - 2)) };
    })
    .on('POST', '/api/v1/jobs', (call) => {
      const { signed } = call.body as { signed: SignedJob; source?: string };
      const verdict = verifySignedJob(signed, { roots: this.root ? [this.root] : [], now: Date.now(), isRevoked: () => false, hostLabels: {} });
      if (!verdict.ok) return fakeError(400, 'invalid_argument', `the job's signature is refused: ${verdict.message}`);
      const spec = signed.payload.job;
      const count = spec.allocations.web?.count ?? 1;
      const old = this.jobs.get(spec.name);
      const version = (old?.version ?? 0) + 1;
      const job = jobDetailFixture(spec.name, count, { version, status: 'pending', running: 0, spec });
      this.jobs.set(spec.name, job);
      return { status: 201, body: { job, created: true, plan: planFixture(spec.name, count) } };
    })
    .on('GET', '/api/v1/jobs', () => ({ status: 200, body: { items: [...this.jobs.values()].map(summaryOf) } }))
    .on('GET', '/api/v1/jobs/:name', (_call, { name }) => {
      const job = this.jobs.get(name!);
      return job ? { status: 200, body: job } : fakeError(404, 'not_found', `no job '${name}'`);
    })
    .on('POST', '/api/v1/jobs/:name/stop', (call, { name }) => {
      const job = this.jobs.get(name!);
      if (!job) return fakeError(404, 'not_found', `no job '${name}'`);
      if ((call.body as { purge?: boolean }).purge) {
        this.jobs.delete(name!);
        return { status: 204 };
      }
      const stopped: JobDetailView = {
        ...job,
        status: 'stopped',
        running: 0,
        allocations: job.allocations.map((a) => ({ ...a, desired: 'stop', status: 'stopping', stopCause: 'job_stopped' })),
      };
      this.jobs.set(name!, stopped);
      return { status: 200, body: stopped };
    })
    .on('GET', '/api/v1/allocations', (call) => {
      const node = call.query.get('node');
      const active = call.query.get('active') === 'true';
      const items = [...this.jobs.values()]
        .flatMap((j) => j.allocations)
        .filter((a) => (node ? a.nodeId === node : true) && (active ? a.desired === 'run' : true));
      return { status: 200, body: { items } };
    });

  /** Adds a running job of `count` allocations on gpu-a. */
  addJob(name: string, count = 2, over: Partial<JobDetailView> = {}): JobDetailView {
    const job = jobDetailFixture(name, count, over);
    this.jobs.set(name, job);
    return job;
  }

  /** Adds an allocation to a job. */
  addAllocation(job: string, a: AllocationView): void {
    const j = this.jobs.get(job)!;
    this.jobs.set(job, { ...j, allocations: [...j.allocations, a] });
  }

  get fetch(): FakeApi['fetch'] {
    return this.api.fetch;
  }

  /** The EventSource class to install with vi.stubGlobal; every stream opened is kept in `streams`. */
  get EventSource(): typeof FakeEventSource {
    // FakeEventSource reports to a run network; this one only keeps the streams (runs are not part of it).
    const net = { streams: this.streams, opened: () => undefined } as unknown as FakeRunNetwork;
    return class extends FakeEventSource {
      constructor(url: string) {
        super(url, net);
      }
    };
  }

  /** The open log stream of an allocation. */
  logStreamOf(allocId: string): FakeEventSource | undefined {
    return this.streams.filter((s) => !s.closed && s.url.includes(`/allocations/${encodeURIComponent(allocId)}/logs/stream`)).pop();
  }

  /** A job file as the server would read it: `name:` and `count:` lines; `count: x` is refused with its line and field. */
  private parse(source: string): { spec: JobSpec } | { refusal: ReturnType<typeof jobFileRefusalReply> } {
    const lines = source.split('\n');
    const bad = lines.findIndex((l) => /^\s*count:\s*[^\d\s]/.test(l));
    if (bad >= 0) {
      return {
        refusal: jobFileRefusalReply([
          { line: bad + 1, col: lines[bad]!.indexOf('count') + 1, path: 'allocations.web.count', message: 'count must be a whole number from 1 to 10000' },
        ]),
      };
    }
    const name = /^name:\s*(\S+)/m.exec(source)?.[1];
    if (!name) return { refusal: jobFileRefusalReply([{ line: 1, col: 1, path: 'name', message: 'a job needs a name' }]) };
    const count = Number(/^\s*count:\s*(\d+)/m.exec(source)?.[1] ?? 1);
    return { spec: jobSpecFixture(name, count) };
  }
}

function summaryOf(j: JobDetailView): JobSummaryView {
  const { spec: _spec, source: _source, versions: _versions, allocations: _allocations, deployment: _deployment, ...summary } = j;
  return summary;
}
