import { mkdirSync, mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import { encodeJoinToken } from '@gpufleet/protocol';
import { FakeControlPlane } from '../testing/fake-control-plane.js';
import { StubBackend } from '../testing/stub-backend.js';
import { FileStateStore, NODE_CONFIG_FILE } from './file-state.js';
import { joinFleet } from './join.js';
import { MemoryStateStore, nodeServerUrls, type NodeConfig } from './state.js';

let dir: string;
let cp: FakeControlPlane | null = null;
beforeEach(() => {
  dir = mkdtempSync(join(tmpdir(), 'gf-join-replicas-'));
});
afterEach(async () => {
  await cp?.stop();
  cp = null;
  rmSync(dir, { recursive: true, force: true });
});

const config: NodeConfig = { nodeId: 'did:key:z6MkNode', serverUrl: 'https://a:7420', caPem: null, roots: [], heartbeatMs: 5000, labels: {} };

describe('joining a control plane with several replicas', () => {
  it("keeps every URL from the token in the node config, the token's URL first", async () => {
    cp = new FakeControlPlane({ tokens: { tok1: { secret: 's' } } });
    await cp.start();
    const other = 'http://127.0.0.1:9';
    const token = encodeJoinToken({ url: cp.url, urls: [cp.url, other], caFingerprint: null, roots: [], tokenId: 'tok1', secret: 's' });
    const result = await joinFleet({ token, dataDir: dir, backend: new StubBackend(), agentVersion: '1' });
    expect(result.serverUrls).toEqual([cp.url, other]);
    const saved = new FileStateStore(dir).loadConfig()!;
    expect(saved.serverUrl).toBe(cp.url);
    expect(saved.serverUrls).toEqual([cp.url, other]);
    expect(nodeServerUrls(saved)).toEqual([cp.url, other]);
  });

  it('joins through the next replica when the first one is down, and says which failed when all are', async () => {
    cp = new FakeControlPlane({ tokens: { tok1: { secret: 's' } } });
    await cp.start();
    const down = 'http://127.0.0.1:9';
    const token = encodeJoinToken({ url: down, urls: [down, cp.url], caFingerprint: null, roots: [], tokenId: 'tok1', secret: 's' });
    const result = await joinFleet({ token, dataDir: dir, backend: new StubBackend(), agentVersion: '1' });
    expect(result.nodeId).toMatch(/^did:key:/);
    const allDown = encodeJoinToken({ url: down, urls: [down, 'http://127.0.0.1:7'], caFingerprint: null, roots: [], tokenId: 'tok1', secret: 's' });
    const err = await joinFleet({ token: allDown, dataDir: dir, backend: new StubBackend(), agentVersion: '1' }).catch((e: Error) => e);
    expect(String(err)).toMatch(/no control-plane replica answered the join: http:\/\/127\.0\.0\.1:9: .*; http:\/\/127\.0\.0\.1:7: /);
  });

  it('stops at the first refusal: replicas share one store, so the others would refuse too', async () => {
    cp = new FakeControlPlane({ tokens: { tok1: { secret: 's' } } });
    await cp.start();
    const token = encodeJoinToken({ url: cp.url, urls: [cp.url, 'http://127.0.0.1:9'], caFingerprint: null, roots: [], tokenId: 'tok1', secret: 'wrong' });
    const err = await joinFleet({ token, dataDir: dir, backend: new StubBackend(), agentVersion: '1' }).catch((e: Error) => e);
    expect(err).toBeInstanceOf(Error);
    expect(String(err)).not.toMatch(/no control-plane replica answered/);
    expect(String(err)).not.toMatch(/127\.0\.0\.1:9/);
  });

  it('refuses a token whose replica breaks the transport rules, before any traffic', async () => {
    const token = encodeJoinToken({
      url: 'http://127.0.0.1:1',
      urls: ['http://127.0.0.1:1', 'http://fleet.example:7420'],
      caFingerprint: null,
      roots: [],
      tokenId: 't',
      secret: 's',
    });
    await expect(joinFleet({ token, dataDir: dir, backend: new StubBackend(), agentVersion: '1' })).rejects.toThrow(
      /only allowed for a plain-http loopback server, but its URL is http:\/\/fleet.example:7420/,
    );
  });
});

describe('the node config with replica URLs', () => {
  const write = (o: Record<string, unknown>) => {
    mkdirSync(dir, { recursive: true });
    writeFileSync(join(dir, NODE_CONFIG_FILE), JSON.stringify({ version: 1, ...o }));
  };

  it('loads a file written before replicas as the one URL it names', () => {
    const { caPem: _ca, ...onDisk } = config;
    write(onDisk);
    const loaded = new FileStateStore(dir).loadConfig()!;
    expect(loaded).toEqual(config);
    expect(nodeServerUrls(loaded)).toEqual(['https://a:7420']);
  });

  it('round-trips the list', () => {
    const store = new FileStateStore(dir);
    store.saveConfig({ ...config, serverUrls: ['https://b:7421', 'https://a:7420'] });
    expect(store.loadConfig()!.serverUrls).toEqual(['https://b:7421', 'https://a:7420']);
  });

  it.each([
    ['not a list', 'https://a:7420', /serverUrls: the server URLs are not a list/],
    ['empty', [], /serverUrls: the server URL list is empty/],
    ['an ftp URL', ['ftp://a'], /serverUrls: server URL #1: 'ftp:\/\/a' is not an http or https URL/],
    ['a number', ['https://a:7420', 3], /serverUrls: server URL #2 is not a string/],
    ['17 URLs', Array.from({ length: 17 }, (_, i) => `https://n${i}:7420`), /serverUrls: at most 16/],
  ])('refuses a damaged list (%s), saying to join again', (_name, serverUrls, message) => {
    const { caPem: _ca, ...onDisk } = config;
    write({ ...onDisk, serverUrls });
    expect(() => new FileStateStore(dir).loadConfig()).toThrow(message);
    expect(() => new FileStateStore(dir).loadConfig()).toThrow(/is damaged: .*join <token>' again/);
  });

  it('is copied in and out of the memory store', () => {
    const urls = ['https://a:7420', 'https://b:7421'];
    const store = new MemoryStateStore();
    store.saveConfig({ ...config, serverUrls: urls });
    urls.push('https://c:7422');
    const loaded = store.loadConfig()!;
    loaded.serverUrls!.pop();
    expect(store.loadConfig()!.serverUrls).toEqual(['https://a:7420', 'https://b:7421']);
  });
});
