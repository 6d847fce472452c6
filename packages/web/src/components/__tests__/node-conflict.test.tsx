// @vitest-environment jsdom
import { afterEach, describe, expect, it } from 'vitest';
import { cleanup, fireEvent, render, screen } from '@testing-library/react';
import { ApiClient, ApiError } from '../../lib/api.js';
import { Router } from '../../lib/router.js';
import { FakeApi } from '../../testing/fake-api.js';
import { conflictCandidates, NodeConflict } from '../node-conflict.js';

afterEach(cleanup);

const A = { id: 'did:key:z6MkAAAA', hostname: 'twin', status: 'READY' };
const B = { id: 'did:key:z6MkBBBB', hostname: 'twin', status: 'OFFLINE' };

describe('a hostname several nodes share', () => {
  it("reads the candidates from the server's 409, through the API client", async () => {
    const api = new FakeApi().on('GET', '/api/v1/nodes/:ref', () => ({
      status: 409,
      body: { error: { code: 'conflict', message: "hostname 'twin' is shared by 2 nodes", details: { matches: [A.id, B.id], candidates: [A, B] } } },
    }));
    const client = new ApiClient('t');
    const original = globalThis.fetch;
    globalThis.fetch = api.fetch as typeof fetch;
    try {
      const err = await client.get('/api/v1/nodes/twin').catch((e: unknown) => e);
      expect(err).toBeInstanceOf(ApiError);
      expect(conflictCandidates(err)).toEqual([A, B]);
    } finally {
      globalThis.fetch = original;
    }
  });

  it('is not a conflict for other errors or garbage details', () => {
    expect(conflictCandidates(new ApiError(404, 'not_found', 'no node'))).toBeNull();
    expect(conflictCandidates(new ApiError(409, 'conflict', 'x', { candidates: 'nope' }))).toBeNull();
    expect(conflictCandidates(new ApiError(409, 'conflict', 'x', { candidates: [{ id: 1 }] }))).toBeNull();
    expect(conflictCandidates(new Error('x'))).toBeNull();
    expect(conflictCandidates(null)).toBeNull();
  });

  it('lists each node by id, linking to its own page', () => {
    window.history.replaceState(null, '', '/nodes/twin');
    render(
      <Router>
        <NodeConflict hostname="twin" candidates={[A, B]} />
      </Router>,
    );
    expect(screen.getByTestId('node-conflict').textContent).toContain('2 nodes have this hostname');
    const links = screen.getAllByTestId('node-conflict-link');
    expect(links.map((l) => l.getAttribute('href'))).toEqual([`/nodes/${encodeURIComponent(A.id)}`, `/nodes/${encodeURIComponent(B.id)}`]);
    fireEvent.click(links[1]!);
    expect(window.location.pathname).toBe(`/nodes/${encodeURIComponent(B.id)}`);
  });
});
