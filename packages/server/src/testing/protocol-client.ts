import WebSocket from 'ws';
import { challengeMessage, enrollmentMessage, generateEd25519, PROTOCOL_VERSION, signEd25519, type Ed25519KeyPair, type GpuInfo } from '@gpufleet/protocol';
import { testGpu, testHostFacts } from './fake-host.js';
import type { TestServer } from './test-server.js';

/** A hand-driven agent connection for gateway tests: every frame is explicit. */
export class ProtocolClient {
  readonly received: any[] = [];
  private waiters: Array<{ test: (f: any) => boolean; resolve: (f: any) => void }> = [];
  closeCode: number | null = null;
  closeReason = '';
  readonly closed: Promise<number>;

  private constructor(readonly ws: WebSocket) {
    ws.on('message', (data) => {
      const frame = JSON.parse(data.toString());
      this.received.push(frame);
      this.waiters = this.waiters.filter((w) => (w.test(frame) ? (w.resolve(frame), false) : true));
    });
    this.closed = new Promise((resolve) =>
      ws.on('close', (code, reason) => {
        this.closeCode = code;
        this.closeReason = reason.toString();
        resolve(code);
      }),
    );
  }

  static async connect(url: string): Promise<ProtocolClient> {
    const ws = new WebSocket(`${url.replace(/^http/, 'ws')}/v1/agent`);
    const client = new ProtocolClient(ws);
    await new Promise<void>((resolve, reject) => {
      ws.once('open', () => resolve());
      ws.once('error', reject);
    });
    return client;
  }

  next(test: (f: any) => boolean, timeoutMs = 5000): Promise<any> {
    const found = this.received.find(test);
    if (found) {
      this.received.splice(this.received.indexOf(found), 1);
      return Promise.resolve(found);
    }
    return new Promise((resolve, reject) => {
      const timer = setTimeout(
        () => reject(new Error(`no matching frame within ${timeoutMs} ms; got ${JSON.stringify(this.received).slice(0, 500)}`)),
        timeoutMs,
      );
      this.waiters.push({
        test,
        resolve: (f) => {
          clearTimeout(timer);
          this.received.splice(this.received.indexOf(f), 1);
          resolve(f);
        },
      });
    });
  }

  send(frame: unknown): void {
    this.ws.send(typeof frame === 'string' ? frame : JSON.stringify(frame));
  }

  /** Answers the challenge as `key`, claiming `nodeId` (normally the key's own did). */
  async hello(key: Ed25519KeyPair, opts: { nodeId?: string; protocolVersion?: number } = {}): Promise<any> {
    const challenge = await this.next((f) => f.t === 'challenge');
    const nodeId = opts.nodeId ?? key.did;
    this.send({
      t: 'hello',
      body: {
        protocolVersion: opts.protocolVersion ?? PROTOCOL_VERSION,
        nodeId,
        agentVersion: 'test',
        signature: signEd25519(key.privateKeyPem, challengeMessage(challenge.body.nonce, nodeId)),
        lastSeq: 0,
      },
    });
    return this.next((f) => f.t === 'welcome' || f.t === 'error');
  }

  close(): void {
    this.ws.close();
  }
}

/** Creates a join token and enrolls a fresh key with it; returns the key. */
export async function enrollTestNode(
  t: TestServer,
  hostname: string,
  tokenBody: object = {},
  gpus: GpuInfo[] = [testGpu(0), testGpu(1)],
): Promise<Ed25519KeyPair> {
  const created = await t.api('POST', '/api/v1/join-tokens', tokenBody);
  if (created.status !== 201) throw new Error(`join token: ${created.text}`);
  const key = generateEd25519();
  const [tokenId, secret] = tokenParts(created.body.token);
  const res = await t.api(
    'POST',
    '/api/v1/enroll',
    {
      tokenId,
      secret,
      nodeId: key.did,
      signature: signEd25519(key.privateKeyPem, enrollmentMessage(tokenId, key.did)),
      host: testHostFacts(hostname),
      gpus,
    },
    null,
  );
  if (res.status !== 201) throw new Error(`enroll: ${res.text}`);
  return key;
}

export function tokenParts(token: string): [string, string] {
  const p = JSON.parse(Buffer.from(token.slice(5), 'base64url').toString());
  return [p.i, p.s];
}
