// @vitest-environment jsdom
import { afterEach, beforeEach, describe, expect, it, vi } from 'vitest';
import { cleanup, fireEvent, screen, waitFor, within } from '@testing-library/react';
import { ApiTokenView, CreateApiTokenRequest } from '@gpufleet/protocol';
import { FakeApi, fakeError, type FakeReply } from '../../testing/fake-api.js';
import { renderSignedIn, storedSession } from '../../testing/render-page.js';
import { ApiTokensPage, apiTokenId } from '../api-tokens.js';

/*
 * The API tokens page against a fake of the token routes (server/src/routes/token-routes.ts):
 * same paths, statuses and bodies, each view checked against the protocol's ApiTokenView and each
 * create body against CreateApiTokenRequest, as the server validates them.
 */

const MY_ID = 'a1b2c3d4e5f60718';
const MY_TOKEN = `gft_${MY_ID}_${'s'.repeat(43)}`;

function tokenRoutes(o: { refuseCreate?: FakeReply } = {}) {
  const now = Date.parse('2025-05-01T12:00:00Z');
  const iso = (ms: number) => new Date(ms).toISOString();
  const tokens: ApiTokenView[] = [
    { id: MY_ID, name: 'bootstrap-admin', role: 'admin', createdAt: iso(now - 86_400_000), lastUsedAt: iso(now - 60_000), revokedAt: null },
    { id: '0011223344556677', name: 'grafana', role: 'viewer', createdAt: iso(now - 3_600_000), lastUsedAt: null, revokedAt: null },
    { id: '8899aabbccddeeff', name: 'old-ci', role: 'operator', createdAt: iso(now - 7 * 86_400_000), lastUsedAt: null, revokedAt: iso(now - 86_400_000) },
  ].map((t) => ApiTokenView.parse(t));
  let serial = 0;
  const api = new FakeApi()
    .on('GET', '/api/v1/api-tokens', () => ({ status: 200, body: { items: tokens } }))
    .on('POST', '/api/v1/api-tokens', (call) => {
      if (o.refuseCreate) return o.refuseCreate;
      const parsed = CreateApiTokenRequest.safeParse(call.body);
      if (!parsed.success) return fakeError(400, 'invalid_argument', `body/${parsed.error.issues[0]!.path.join('.')}: ${parsed.error.issues[0]!.message}`);
      const id = `feed${String(++serial).padStart(12, '0')}`;
      const view = ApiTokenView.parse({
        id,
        name: parsed.data.name,
        role: parsed.data.role,
        createdAt: new Date().toISOString(),
        lastUsedAt: null,
        revokedAt: null,
      });
      tokens.push(view);
      return { status: 201, body: { ...view, token: `gft_${id}_${'x'.repeat(42)}${serial}` } };
    })
    .on('DELETE', '/api/v1/api-tokens/:id', (_call, { id }) => {
      const t = tokens.find((x) => x.id === id && x.revokedAt === null);
      if (!t) return fakeError(404, 'not_found', `no active API token with id ${id}`);
      t.revokedAt = new Date().toISOString();
      return { status: 204 };
    });
  return { api, tokens };
}

let fake: ReturnType<typeof tokenRoutes>;
beforeEach(() => {
  fake = tokenRoutes();
  vi.stubGlobal('fetch', fake.api.fetch);
});
afterEach(() => {
  cleanup();
  vi.unstubAllGlobals();
  sessionStorage.clear();
});

const admin = { token: MY_TOKEN, name: 'bootstrap-admin', role: 'admin' as const };
const rowOf = (name: string) => document.querySelector<HTMLElement>(`[data-testid="api-tokens-row"][data-name="${name}"]`);

describe('API tokens page', () => {
  it('reads the token id out of a token, and nothing out of garbage', () => {
    expect(apiTokenId(MY_TOKEN)).toBe(MY_ID);
    expect(apiTokenId('gfj1.something')).toBeNull();
    expect(apiTokenId('')).toBeNull();
  });

  it('lists the active tokens with role and last use, marks the one in use, and shows revoked ones on request', async () => {
    renderSignedIn(<ApiTokensPage />, admin);
    await waitFor(() => expect(rowOf('grafana')).not.toBeNull());
    expect(fake.api.calls[0]!.authorization).toBe(`Bearer ${MY_TOKEN}`);
    const grafana = within(rowOf('grafana')!);
    expect(grafana.getByText('viewer')).toBeTruthy();
    expect(grafana.getByText('never')).toBeTruthy();
    expect(rowOf('bootstrap-admin')!.textContent).toContain('this session');
    expect(rowOf('grafana')!.textContent).not.toContain('this session');
    // The last use is relative, with the absolute time on hover.
    const lastUsed = rowOf('bootstrap-admin')!.querySelectorAll('time')[1]!;
    expect(lastUsed.getAttribute('datetime')).toBe(fake.tokens[0]!.lastUsedAt);
    expect(lastUsed.getAttribute('title')).toMatch(/^\d{4}-\d\d-\d\d \d\d:\d\d:\d\d$/);
    expect(rowOf('old-ci')).toBeNull();
    fireEvent.click(screen.getByTestId('api-tokens-show-revoked'));
    expect(rowOf('old-ci')!.getAttribute('data-state')).toBe('revoked');
    expect(within(rowOf('old-ci')!).queryByRole('button', { name: 'Revoke' })).toBeNull();
  });

  it('creates a token and shows its secret once, then never again', async () => {
    renderSignedIn(<ApiTokensPage />, admin);
    const create = (await screen.findByTestId('api-tokens-create')) as HTMLButtonElement;
    expect(create.disabled).toBe(true);
    fireEvent.change(screen.getByTestId('api-tokens-name'), { target: { value: '  oncall-alice ' } });
    fireEvent.change(screen.getByTestId('api-tokens-role'), { target: { value: 'operator' } });
    fireEvent.click(create);
    const secret = await screen.findByTestId('api-tokens-secret');
    expect(fake.api.callsTo('POST', '/api/v1/api-tokens').map((c) => c.body)).toEqual([{ name: 'oncall-alice', role: 'operator' }]);
    const token = secret.textContent!;
    expect(apiTokenId(token)).toBe('feed000000000001');
    expect(screen.getByTestId('api-tokens-secret-box').textContent).toMatch(/you won.t see it again/i);
    // The list refreshes with the new token, and the secret appears nowhere but the box.
    await waitFor(() => expect(rowOf('oncall-alice')).not.toBeNull());
    expect(rowOf('oncall-alice')!.textContent).toContain('operator');
    expect(document.body.textContent!.split(token)).toHaveLength(2);
    fireEvent.click(screen.getByTestId('api-tokens-secret-done'));
    expect(screen.queryByTestId('api-tokens-secret-box')).toBeNull();
    expect(document.body.textContent).not.toContain(token);
    expect((screen.getByTestId('api-tokens-name') as HTMLInputElement).value).toBe('');
  });

  it("shows the server's refusal of a create, and no secret", async () => {
    fake = tokenRoutes({ refuseCreate: fakeError(403, 'permission_denied', 'this needs the admin role') });
    vi.stubGlobal('fetch', fake.api.fetch);
    renderSignedIn(<ApiTokensPage />, admin);
    fireEvent.change(await screen.findByTestId('api-tokens-name'), { target: { value: 'x' } });
    fireEvent.click(screen.getByTestId('api-tokens-create'));
    expect((await screen.findByRole('alert')).textContent).toBe('this needs the admin role');
    expect(screen.queryByTestId('api-tokens-secret')).toBeNull();
  });

  it('asks before revoking, and a cancel revokes nothing', async () => {
    renderSignedIn(<ApiTokensPage />, admin);
    await waitFor(() => expect(rowOf('grafana')).not.toBeNull());
    fireEvent.click(within(rowOf('grafana')!).getByRole('button', { name: 'Revoke' }));
    const dialog = screen.getByTestId('confirm-dialog');
    expect(dialog.textContent).toContain('grafana');
    expect(screen.queryByTestId('api-tokens-own-warning')).toBeNull();
    fireEvent.click(screen.getByTestId('confirm-cancel'));
    await waitFor(() => expect(screen.queryByTestId('confirm-dialog')).toBeNull());
    expect(fake.api.callsTo('DELETE', '/api/v1/api-tokens')).toHaveLength(0);

    fireEvent.click(within(rowOf('grafana')!).getByRole('button', { name: 'Revoke' }));
    fireEvent.click(screen.getByTestId('confirm-ok'));
    await waitFor(() => expect(rowOf('grafana')).toBeNull());
    expect(fake.api.callsTo('DELETE', '/api/v1/api-tokens').map((c) => c.path)).toEqual(['/api/v1/api-tokens/0011223344556677']);
    expect(storedSession()).not.toBeNull();
  });

  it('revoking the token in use warns, wants its name typed, and signs out', async () => {
    renderSignedIn(<ApiTokensPage />, admin);
    await waitFor(() => expect(rowOf('bootstrap-admin')).not.toBeNull());
    fireEvent.click(within(rowOf('bootstrap-admin')!).getByRole('button', { name: 'Revoke' }));
    expect(screen.getByTestId('api-tokens-own-warning').textContent).toMatch(/signs you out/);
    const ok = screen.getByTestId('confirm-ok') as HTMLButtonElement;
    expect(ok.textContent).toBe('Revoke and sign out');
    expect(ok.disabled).toBe(true);
    fireEvent.change(screen.getByTestId('confirm-type'), { target: { value: 'bootstrap-admin' } });
    fireEvent.click(ok);
    await screen.findByTestId('signed-out');
    expect(fake.api.callsTo('DELETE', '/api/v1/api-tokens').map((c) => c.path)).toEqual([`/api/v1/api-tokens/${MY_ID}`]);
    expect(storedSession()).toBeNull();
  });

  it('an operator is told the page needs the admin role and nothing is fetched', () => {
    renderSignedIn(<ApiTokensPage />, { ...admin, role: 'operator' });
    expect(screen.getByText('API tokens need the admin role.')).toBeTruthy();
    expect(fake.api.calls).toHaveLength(0);
  });
});
