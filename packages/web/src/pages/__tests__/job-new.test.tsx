// @vitest-environment jsdom
import { afterEach, beforeEach, describe, expect, it, vi } from 'vitest';
import { cleanup, fireEvent, screen, waitFor, within } from '@testing-library/react';
import { canonicalJson, JobSpec, verifySignedJob, type Capability, type SignedJob } from '@gpufleet/protocol';
import { FakeApi } from '../../testing/fake-api.js';
import { FakeWorkloadApi } from '../../testing/fake-workload-api.js';
import { renderWithSigner } from '../../testing/render-with-signer.js';
import { testSigner } from '../../testing/fake-run-network.js';
import type { RevocableSigner } from '../../lib/signing/browser-signer.js';
import { NewJobPage } from '../job-new.js';
import { JobDetailPage } from '../job-detail.js';
import { useRouter } from '../../lib/router.js';

/*
 * Running a job from the dashboard against a fake workloads API: the file is read by the server
 * (POST /jobs/parse) into the spec shown and signed, refusals name their line and field, Plan is
 * a dry run, and the submission is signed in the tab by the dashboard's own signer over a real
 * Ed25519 key, then checked with the host's verifier.
 */

const operator = { token: `gft_0123456789abcdef_${'o'.repeat(43)}`, name: 'ops', role: 'operator' as const };
const viewer = { token: `gft_0123456789abcdef_${'v'.repeat(43)}`, name: 'watcher', role: 'viewer' as const };
const FILE = 'name: llama\nallocations:\n  web:\n    count: 2\n    executor: container\n    image: busybox\n';

let net: FakeWorkloadApi;
beforeEach(() => {
  window.history.replaceState(null, '', '/jobs/new');
  net = new FakeWorkloadApi();
  vi.stubGlobal('fetch', net.fetch);
  vi.stubGlobal('EventSource', net.EventSource);
});
afterEach(() => {
  cleanup();
  vi.unstubAllGlobals();
  sessionStorage.clear();
});

/** The two pages of the flow, switched by the path as the app does. */
function Pages() {
  const { path } = useRouter();
  return path === '/jobs/new' ? <NewJobPage /> : <JobDetailPage name={decodeURIComponent(path.split('/')[2]!)} />;
}

const typeFile = (text: string) => fireEvent.change(screen.getByTestId('job-source'), { target: { value: text } });
const parseCalls = () => net.api.callsTo('POST', '/api/v1/jobs/parse');
const submissions = () => net.api.callsTo('POST', '/api/v1/jobs').filter((c) => c.path === '/api/v1/jobs');

async function renderWithKey(over: { capability?: Capability | null } = {}): Promise<RevocableSigner> {
  let signer = await testSigner();
  if (over.capability !== undefined) signer = signer.withCapability!(over.capability);
  net.root = signer.signer.did;
  renderWithSigner(<NewJobPage />, { session: operator, signer });
  return signer;
}

describe('Run a job', () => {
  it('a viewer is told it needs the operator role, and nothing is sent', async () => {
    renderWithSigner(<NewJobPage />, { session: viewer });
    expect((await screen.findByText(/needs the operator role/)).textContent).toContain('Running a job');
    expect(screen.queryByTestId('job-source')).toBeNull();
    expect(parseCalls()).toEqual([]);
  });

  it('without a key: the file is read, the CLI command is offered, and there is no sign button', async () => {
    renderWithSigner(<NewJobPage />, { session: operator });
    typeFile(FILE);
    await waitFor(() => expect(screen.getByTestId('job-parse-state').textContent).toBe('reads as job llama'));
    expect(parseCalls().map((c) => c.body)).toEqual([{ source: FILE }]);
    expect(screen.getByTestId('job-need-key').textContent).toContain('gpufleet jobs run FILE');
    expect(screen.getByTestId('job-cli').textContent).toBe('gpufleet jobs run llama.yaml');
    expect(screen.queryByTestId('job-sign')).toBeNull();
  });

  it('shows the spec the server read, signs exactly it, submits it with the file, and opens the job', async () => {
    const signer = await renderWithKey();
    typeFile(FILE);
    const summary = await screen.findByTestId('job-spec-summary');
    expect(summary.dataset.name).toBe('llama');
    expect(within(summary).getByTestId('job-spec-group').dataset).toMatchObject({ group: 'web', count: '2' });
    const shown = JSON.parse(screen.getByTestId('job-payload').textContent!) as SignedJob['payload'];
    expect(shown).toMatchObject({ v: 1, invoker: signer.signer.did, capability: null });
    expect(screen.getByTestId('job-spec-hash').textContent).toMatch(/^[0-9a-f]{64}$/);
    expect(screen.queryByTestId('job-blockers')).toBeNull();

    fireEvent.click(screen.getByTestId('job-sign'));
    await waitFor(() => expect(window.location.pathname).toBe('/jobs/llama'));
    const [call] = submissions();
    const body = call!.body as { signed: SignedJob; source: string };
    expect(body.source).toBe(FILE);
    // Exactly the payload shown, signed so that a host accepts it.
    expect(canonicalJson(body.signed.payload)).toBe(canonicalJson(shown));
    expect(JobSpec.safeParse(body.signed.payload.job).success).toBe(true);
    expect(verifySignedJob(body.signed, { roots: [signer.signer.did], now: Date.now(), isRevoked: () => false, hostLabels: {} })).toEqual({ ok: true });
  });

  it('a refused file names the line and field, shows the line, and cannot be signed', async () => {
    await renderWithKey();
    typeFile('name: llama\nallocations:\n  web:\n    count: lots\n');
    const item = await screen.findByTestId('job-problem-item');
    expect(item.dataset).toMatchObject({ line: '4', field: 'allocations.web.count' });
    expect(screen.getByTestId('job-problem').textContent).toContain('count must be a whole number');
    expect(item.textContent).toContain('4 |     count: lots');
    expect(screen.getByTestId('job-source').getAttribute('aria-invalid')).toBe('true');
    expect(screen.queryByTestId('job-payload')).toBeNull();
    expect((screen.getByTestId('job-sign') as HTMLButtonElement).disabled).toBe(true);
  });

  it('Plan shows where each allocation would go and why the rest cannot be placed', async () => {
    renderWithSigner(<NewJobPage />, { session: operator });
    typeFile(FILE.replace('count: 2', 'count: 3'));
    fireEvent.click(screen.getByTestId('job-plan'));
    const plan = await screen.findByTestId('job-plan-result');
    expect(plan.dataset).toMatchObject({ placed: '2', failures: '1' });
    expect(screen.getAllByTestId('job-plan-result-placement').map((r) => [r.dataset.name, r.dataset.node])).toEqual([
      ['web-0', 'gpu-a'],
      ['web-1', 'gpu-a'],
    ]);
    const failure = screen.getByTestId('job-plan-result-failure');
    expect(failure.textContent).toContain('web: 1 allocation cannot be placed.');
    expect(failure.textContent).toContain('3 nodes lack free GPUs of model H100');
    expect(failure.textContent).toContain('2 nodes are cordoned');
    expect(screen.getByTestId('job-plan-result-summary').textContent).toBe('2 to place on 1 node, 1 cannot be placed (6 nodes evaluated).');
    expect(net.api.callsTo('POST', '/api/v1/jobs/plan').map((c) => c.body)).toEqual([{ source: FILE.replace('count: 2', 'count: 3') }]);
  });

  it('a capability without workload/run is named as the reason, and nothing can be signed', async () => {
    const now = Date.now();
    const cap = {
      v: 1,
      iss: 'did:key:zRoot',
      aud: 'did:key:zOps',
      can: ['exec/run'],
      on: '*',
      nbf: now - 1000,
      exp: now + 3_600_000,
      nonce: 'n',
      prf: [],
      sig: 's',
    };
    await renderWithKey({ capability: cap as unknown as Capability });
    typeFile(FILE);
    const blockers = await screen.findByTestId('job-blockers');
    expect(blockers.textContent).toContain('your capability grants exec/run, not workload/run');
    expect((screen.getByTestId('job-sign') as HTMLButtonElement).disabled).toBe(true);
  });

  it('a refused submission is shown, and a retry signs a fresh nonce', async () => {
    await renderWithKey();
    net.root = 'did:key:z6MkSomeoneElseEntirely';
    typeFile(FILE);
    await screen.findByTestId('job-payload');
    fireEvent.click(screen.getByTestId('job-sign'));
    expect((await screen.findByTestId('job-submit-error')).textContent).toContain("the job's signature is refused");
    await waitFor(() => expect((screen.getByTestId('job-sign') as HTMLButtonElement).disabled).toBe(false));
    fireEvent.click(screen.getByTestId('job-sign'));
    await waitFor(() => expect(submissions().length).toBe(2));
    const [a, b] = submissions().map((c) => (c.body as { signed: SignedJob }).signed.payload.nonce);
    expect(a).not.toBe(b);
    expect(window.location.pathname).toBe('/jobs/new');
  });

  it('an uploaded file fills the text; one over 1 MiB is refused before it is read', async () => {
    renderWithSigner(<NewJobPage />, { session: operator });
    const input = screen.getByTestId('job-file') as HTMLInputElement;
    fireEvent.change(input, { target: { files: [new File([FILE], 'llama.yaml', { type: 'application/yaml' })] } });
    await waitFor(() => expect((screen.getByTestId('job-source') as HTMLTextAreaElement).value).toBe(FILE));
    fireEvent.change(input, { target: { files: [new File(['x'.repeat(1_048_577)], 'huge.yaml')] } });
    expect((await screen.findByTestId('job-file-error')).textContent).toContain('huge.yaml is 1,048,577 bytes; a job file has at most 1 MiB');
    expect((screen.getByTestId('job-source') as HTMLTextAreaElement).value).toBe(FILE);
  });

  it('garbage from the server in place of a refusal still reads as a problem', async () => {
    const odd = new FakeApi().on('POST', '/api/v1/jobs/parse', () => ({
      status: 400,
      body: { error: { code: 'invalid_argument', message: 'no', details: { problems: 'many' } } },
    }));
    vi.stubGlobal('fetch', odd.fetch);
    renderWithSigner(<NewJobPage />, { session: operator });
    typeFile('name: llama\n');
    expect((await screen.findByTestId('job-problem')).textContent).toBe('no');
  });

  it('the job page then says a version was submitted and where its allocations go, once', async () => {
    const signer = await testSigner();
    net.root = signer.signer.did;
    renderWithSigner(<Pages />, { session: operator, signer });
    typeFile(FILE);
    await screen.findByTestId('job-payload');
    fireEvent.click(screen.getByTestId('job-sign'));
    const notice = await screen.findByTestId('job-submitted');
    expect(notice.textContent).toContain('Version 1 submitted.');
    expect(
      within(notice)
        .getAllByTestId('job-submitted-plan-placement')
        .map((r) => r.dataset.name),
    ).toEqual(['web-0', 'web-1']);
    fireEvent.click(screen.getByTestId('job-submitted-dismiss'));
    expect(screen.queryByTestId('job-submitted')).toBeNull();
    expect(screen.getByTestId('job-title').textContent).toContain('llama');
  });
});
