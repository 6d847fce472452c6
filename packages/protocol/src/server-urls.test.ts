import { describe, expect, it } from 'vitest';
import { WelcomeFrame } from './frames.js';
import { CreateJoinTokenRequest } from './rest.js';
import { serverUrlListProblem, ServerUrlList } from './server-urls.js';

describe('server URL lists', () => {
  it('accepts 1 to 16 distinct http(s) URLs', () => {
    expect(serverUrlListProblem(['https://a.example:7420'])).toBeNull();
    expect(serverUrlListProblem(Array.from({ length: 16 }, (_, i) => `http://10.0.0.${i}:7420/gpufleet`))).toBeNull();
  });

  it.each([
    [null, /not a list/],
    [{ 0: 'https://a' }, /not a list/],
    [[], /empty/],
    [Array.from({ length: 17 }, (_, i) => `https://n${i}`), /at most 16 server URLs, got 17/],
    [['https://a', null], /#2 is not a string/],
    [['wss://a'], /#1: 'wss:\/\/a' is not an http or https URL/],
    [[''], /#1: '' is not a URL/],
    [[`https://a/${'x'.repeat(3000)}`], /#1: .* longer than 2048 characters/],
    [['https://a:1', 'https://b', 'https://a:1/'], /#3 \('https:\/\/a:1\/'\) is listed twice/],
  ])('refuses %j', (value, message) => {
    expect(serverUrlListProblem(value)).toMatch(message);
  });

  it('gives one message per mistake in a request body', () => {
    const issues = (serverUrls: unknown) => {
      const r = CreateJoinTokenRequest.safeParse({ serverUrls });
      return r.success ? [] : r.error.issues.map((i) => i.message);
    };
    expect(issues(['https://a', 'https://b'])).toEqual([]);
    expect(issues([])).toHaveLength(1);
    expect(issues(Array.from({ length: 17 }, (_, i) => `https://n${i}`))).toHaveLength(1);
    expect(issues(['https://a', 'gopher://b'])).toEqual(["server URL #2: 'gopher://b' is not an http or https URL"]);
    expect(ServerUrlList.safeParse(['https://a', 'https://a']).success).toBe(false);
  });
});

describe('the welcome frame', () => {
  const welcome = { t: 'welcome', body: { nodeId: 'did:key:z6Mkabc', status: 'READY', heartbeatMs: 5000, metricsIntervalMs: 10_000, ackedSeq: 0 } };

  it('reads without a URL list (older servers) and with one', () => {
    expect(WelcomeFrame.parse(welcome).body.serverUrls).toBeUndefined();
    const urls = ['https://a:7420', 'https://b:7421'];
    expect(WelcomeFrame.parse({ ...welcome, body: { ...welcome.body, serverUrls: urls } }).body.serverUrls).toEqual(urls);
  });

  it('reads a list it cannot use as absent rather than losing the welcome', () => {
    for (const serverUrls of ['https://a', ['ftp://a'], [], [1, 2]]) {
      const parsed = WelcomeFrame.safeParse({ ...welcome, body: { ...welcome.body, serverUrls } });
      expect(parsed.success).toBe(true);
      expect(parsed.data?.body.serverUrls).toBeUndefined();
    }
  });
});
