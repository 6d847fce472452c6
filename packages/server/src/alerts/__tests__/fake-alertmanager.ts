import { createServer, type Server } from 'node:http';
import type { AddressInfo } from 'node:net';

/** A v2 alert as posted. */
export interface PostedAlert {
  labels: Record<string, string>;
  annotations: Record<string, string>;
  startsAt: string;
  endsAt: string;
  generatorURL: string;
}

/** A v2 matcher as posted. */
export interface PostedMatcher {
  name: string;
  value: string;
  isRegex: boolean;
  isEqual: boolean;
}

export interface HeldSilence {
  id: string;
  matchers: PostedMatcher[];
  startsAt: string;
  endsAt: string;
  createdBy: string;
  comment: string;
  expired: boolean;
}

/**
 * A fake Alertmanager on a loopback port that speaks the parts of API v2 gpufleet uses
 * (`POST /api/v2/alerts`, `POST /api/v2/silences`, `DELETE /api/v2/silence/{id}`), records
 * every request, and keeps the state Alertmanager would: the last endsAt of each alert (by
 * label set) and its silences. `failSilences(n)` answers the next n silence POSTs with 503.
 */
export class FakeAlertmanager {
  readonly requests: Array<{ method: string; path: string; body: unknown }> = [];
  readonly alerts = new Map<string, PostedAlert>();
  readonly silences: HeldSilence[] = [];
  private failing = 0;
  private server: Server | null = null;
  url = '';

  async start(): Promise<this> {
    this.server = createServer((req, res) => {
      const chunks: Buffer[] = [];
      req.on('data', (c: Buffer) => chunks.push(c));
      req.on('end', () => {
        const text = Buffer.concat(chunks).toString('utf8');
        const body = text ? JSON.parse(text) : null;
        const path = req.url ?? '';
        this.requests.push({ method: req.method ?? '', path, body });
        const reply = (status: number, json: unknown) => res.writeHead(status, { 'content-type': 'application/json' }).end(JSON.stringify(json));
        if (req.method === 'POST' && path === '/api/v2/alerts') {
          for (const a of body as PostedAlert[]) this.alerts.set(labelKey(a.labels), a);
          return reply(200, {});
        }
        if (req.method === 'POST' && path === '/api/v2/silences') {
          if (this.failing > 0) {
            this.failing--;
            return reply(503, { message: 'not now' });
          }
          const s = body as Omit<HeldSilence, 'id' | 'expired'>;
          // Alertmanager's own rule: at least one matcher must not match the empty string.
          if (!s.matchers.some((m) => m.isEqual && !new RegExp(`^(?:${m.isRegex ? m.value : escapeRe(m.value)})$`).test(''))) {
            return reply(400, 'at least one matcher must not match the empty string');
          }
          const id = `am-${this.silences.length + 1}`;
          this.silences.push({ ...s, id, expired: false });
          return reply(200, { silenceID: id });
        }
        const del = /^\/api\/v2\/silence\/([^/]+)$/.exec(path);
        if (req.method === 'DELETE' && del) {
          const s = this.silences.find((x) => x.id === decodeURIComponent(del[1]!));
          if (!s) return reply(404, 'silence not found');
          s.expired = true;
          return reply(200, {});
        }
        reply(404, 'not found');
      });
    });
    await new Promise<void>((resolve) => this.server!.listen(0, '127.0.0.1', resolve));
    this.url = `http://127.0.0.1:${(this.server.address() as AddressInfo).port}`;
    return this;
  }

  failSilences(n: number): void {
    this.failing = n;
  }

  /** Whether Alertmanager would show this alert active (not resolved) at `at`. */
  isActive(labels: Record<string, string>, at: number): boolean {
    const a = this.alerts.get(labelKey(labels));
    return a !== undefined && Date.parse(a.endsAt) > at;
  }

  /** Whether one of its unexpired silences mutes an alert with these labels. */
  isSilenced(labels: Record<string, string>): boolean {
    return this.silences.some(
      (s) =>
        !s.expired &&
        s.matchers.every((m) => {
          const v = labels[m.name] ?? '';
          const hit = m.isRegex ? new RegExp(`^(?:${m.value})$`).test(v) : v === m.value;
          return hit === m.isEqual;
        }),
    );
  }

  posts(path: string): unknown[] {
    return this.requests.filter((r) => r.method === 'POST' && r.path === path).map((r) => r.body);
  }

  close(): Promise<void> {
    this.server?.closeAllConnections();
    return new Promise((resolve) => (this.server ? this.server.close(() => resolve()) : resolve()));
  }
}

function labelKey(labels: Record<string, string>): string {
  return JSON.stringify(Object.entries(labels).sort(([a], [b]) => a.localeCompare(b)));
}

function escapeRe(text: string): string {
  return text.replace(/[.*+?^${}()|[\]\\]/g, '\\$&');
}
