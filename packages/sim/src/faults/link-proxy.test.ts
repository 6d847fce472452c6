import { connect, createServer, type Server, type Socket } from 'node:net';
import { afterEach, describe, expect, it } from 'vitest';
import { LinkProxy } from './link-proxy.js';

const cleanups: Array<() => Promise<void>> = [];
afterEach(async () => {
  for (const c of cleanups.splice(0).reverse()) await c();
});

async function echoServer(): Promise<number> {
  const sockets = new Set<Socket>();
  const server: Server = createServer((s) => {
    sockets.add(s);
    s.on('close', () => sockets.delete(s));
    s.on('error', () => undefined);
    s.pipe(s);
  });
  await new Promise<void>((r) => server.listen(0, '127.0.0.1', () => r()));
  cleanups.push(async () => {
    for (const s of sockets) s.destroy();
    await new Promise<void>((r) => server.close(() => r()));
  });
  return (server.address() as { port: number }).port;
}

/** Connects through the proxy, sends a word, resolves with the echo or with 'closed'. */
function roundTrip(port: number, word: string): Promise<string> {
  return new Promise((resolve) => {
    const s = connect(port, '127.0.0.1');
    let got = '';
    s.on('data', (d) => {
      got += d.toString();
      if (got === word) {
        s.destroy();
        resolve(got);
      }
    });
    s.on('error', () => undefined);
    s.on('close', () => resolve(got === word ? got : 'closed'));
    s.write(word);
  });
}

describe('LinkProxy', () => {
  it('forwards, cuts live connections and drops new ones while cut, then forwards again', async () => {
    const target = await echoServer();
    const proxy = new LinkProxy('127.0.0.1', target);
    await proxy.start();
    cleanups.push(() => proxy.close());
    expect(await roundTrip(proxy.port, 'hello')).toBe('hello');

    // A live connection dies on the cut.
    const live = connect(proxy.port, '127.0.0.1');
    live.on('error', () => undefined);
    await new Promise<void>((r) => live.once('connect', () => r()));
    await new Promise((r) => setTimeout(r, 20));
    expect(proxy.connections).toBe(2);
    const closed = new Promise<void>((r) => live.once('close', () => r()));
    proxy.cut();
    await closed;
    expect(proxy.cutOff).toBe(true);

    expect(await roundTrip(proxy.port, 'nobody')).toBe('closed');
    expect(proxy.stats.dropped).toBeGreaterThanOrEqual(1);
    proxy.restore();
    expect(await roundTrip(proxy.port, 'again')).toBe('again');
    expect(proxy.stats.forwarded).toBe(3);
  });

  it('rewrites server URLs to its own address and refuses a bad target port', async () => {
    const proxy = LinkProxy.forUrl('http://127.0.0.1:7420/base/');
    expect(() => proxy.urlFor('http://127.0.0.1:7420')).toThrow(/not started/);
    await proxy.start();
    cleanups.push(() => proxy.close());
    expect(proxy.urlFor('https://10.0.0.5:7420/base/')).toBe(`https://127.0.0.1:${proxy.port}/base`);
    expect(() => new LinkProxy('127.0.0.1', 0)).toThrow(/1 to 65535/);
  });
});
