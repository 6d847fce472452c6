import type { NodeView } from '@gpufleet/protocol';
import { FakeApi, fakeError, type FakeReply, type FakeRoute } from './fake-api.js';
import { FakeEventSource, type FakeRunNetwork } from './fake-run-network.js';
import { gpuViewFixture, nodeViewFixture } from './node-fixture.js';
import { FINGERPRINT_A, sshHostFixture } from './job-center-fixture.js';
import type { GroupView, PlayEventView, PlayView, ResolvedVarsView, SshHostView, TemplateDetailView } from '../lib/job-center.js';

/*
 * The job center's routes as component tests see them (protocol job-center.ts shapes): SSH
 * hosts with a probe that shows `probeKey`, groups and variables of each scope, templates and
 * plays with their log paged by `after`. Checks the pages rely on are made as the server makes
 * them (a bad port, an empty key, a host key that does not match); any route can be made to
 * answer a refusal instead. Every call is recorded by the FakeApi.
 */
export class FakeJobCenterApi {
  readonly hosts = new Map<string, SshHostView>();
  readonly nodes = new Map<string, NodeView>();
  readonly groups = new Map<string, GroupView>();
  readonly vars = new Map<string, Record<string, unknown>>();
  readonly resolved = new Map<string, ResolvedVarsView>();
  readonly templates = new Map<string, TemplateDetailView>();
  readonly plays = new Map<string, PlayView>();
  readonly events = new Map<string, PlayEventView[]>();
  /** The key the probe reports. */
  probeKey = { algorithm: 'ssh-ed25519', fingerprint: FINGERPRINT_A };
  private readonly refusals = new Map<string, FakeReply>();
  private readonly api0 = new FakeApi();

  refuse(route: string, reply: FakeReply): void {
    this.refusals.set(route, reply);
  }

  private on(method: string, pattern: string, route: FakeRoute): this {
    this.api0.on(method, pattern, (call, params) => this.refusals.get(`${method} ${pattern}`) ?? route(call, params));
    return this;
  }

  readonly api = this.routes();
  readonly fetch = this.api.fetch;

  private host(ref: string): SshHostView | undefined {
    return this.hosts.get(ref) ?? [...this.hosts.values()].find((h) => h.hostname === ref);
  }

  private routes(): FakeApi {
    this.on('POST', '/api/v1/ssh-hosts/probe', (call) => {
      const b = call.body as { address?: string; port?: number };
      if (!b.address) return fakeError(400, 'invalid_argument', 'address: required');
      if (!Number.isInteger(b.port) || b.port! < 1 || b.port! > 65535) return fakeError(400, 'invalid_argument', 'port: a number 1-65535');
      return { status: 200, body: { hostKey: this.probeKey } };
    })
      .on('POST', '/api/v1/ssh-hosts', (call) => {
        const b = call.body as {
          hostname: string;
          address: string;
          port: number;
          user: string;
          login: { kind: string; privateKey?: string };
          hostKey?: string;
          labels?: Record<string, string>;
        };
        if (b.login.kind === 'key' && !b.login.privateKey) return fakeError(400, 'invalid_argument', 'login.privateKey: must not be empty');
        if (b.hostKey !== undefined && b.hostKey !== this.probeKey.fingerprint)
          return fakeError(412, 'failed_precondition', `host key mismatch: the host presents ${this.probeKey.fingerprint}`);
        if ([...this.hosts.values()].some((h) => h.hostname === b.hostname)) return fakeError(409, 'already_exists', `a node named ${b.hostname} exists`);
        const id = `did:key:z6MkAdded${b.hostname}`;
        const host = sshHostFixture(id, b.hostname, { address: b.address, port: b.port, user: b.user, loginKind: b.login.kind as 'key' | 'password' });
        host.hostKey = { algorithm: this.probeKey.algorithm, fingerprint: this.probeKey.fingerprint, pinnedAt: '2026-12-05T11:00:00.000Z', source: 'given' };
        this.hosts.set(id, host);
        this.nodes.set(id, nodeViewFixture(id, b.hostname, { userLabels: b.labels ?? {}, gpus: [gpuViewFixture(0), gpuViewFixture(1)] }));
        return { status: 201, body: { host, pinnedNow: true } };
      })
      .on('GET', '/api/v1/ssh-hosts', () => ({ status: 200, body: { items: [...this.hosts.values()] } }))
      .on('POST', '/api/v1/ssh-hosts/:node/trust-host-key', (call, { node }) => {
        const h = this.host(node!);
        if (!h) return fakeError(404, 'not_found', `no SSH host ${node}`);
        const b = call.body as { fingerprint: string; reason: string };
        if (!h.refusedHostKey || h.refusedHostKey.fingerprint !== b.fingerprint) return fakeError(412, 'failed_precondition', 'the host presents no such key');
        const next: SshHostView = {
          ...h,
          hostKey: { algorithm: h.refusedHostKey.algorithm, fingerprint: b.fingerprint, pinnedAt: '2026-12-05T11:00:00.000Z', source: 'operator' },
          refusedHostKey: null,
        };
        this.hosts.set(h.nodeId, next);
        return { status: 200, body: next };
      })
      .on('POST', '/api/v1/ssh-hosts/:node/collect-facts', (_call, { node }) => {
        const h = this.host(node!);
        if (!h) return fakeError(404, 'not_found', `no SSH host ${node}`);
        const next = { ...h, factsAt: '2026-12-05T11:30:00.000Z', reachable: true, lastError: null };
        this.hosts.set(h.nodeId, next);
        return { status: 200, body: next };
      })
      .on('GET', '/api/v1/nodes/:node', (_call, { node }) => {
        const n = this.nodes.get(node!);
        return n ? { status: 200, body: n } : fakeError(404, 'not_found', `no node ${node}`);
      })
      .on('GET', '/api/v1/nodes/:node/vars', (_call, { node }) => {
        const r = this.resolved.get(node!);
        return r ? { status: 200, body: r } : fakeError(404, 'not_found', `no node ${node}`);
      });
    this.groupRoutes();
    this.playRoutes();
    return this.api0;
  }

  private groupRoutes(): void {
    this.on('GET', '/api/v1/groups', () => ({ status: 200, body: { items: [...this.groups.values()] } }))
      .on('POST', '/api/v1/groups', (call) => {
        const b = call.body as { name: string; priority?: number; selector?: string; description?: string };
        if (!/^[A-Za-z_][A-Za-z0-9_-]*$/.test(b.name ?? ''))
          return fakeError(400, 'invalid_argument', 'name: a group name: a letter or _, then letters, digits, _ or -');
        if (b.selector?.includes('!!')) return fakeError(400, 'invalid_argument', `selector: cannot parse '${b.selector}'`);
        if (this.groups.has(b.name)) return fakeError(409, 'already_exists', `group ${b.name} exists`);
        const g: GroupView = {
          name: b.name,
          description: b.description ?? '',
          priority: b.priority ?? 0,
          selector: b.selector ?? null,
          members: [],
          nodes: [],
          vars: {},
          createdAt: '2026-12-05T11:00:00.000Z',
        };
        this.groups.set(b.name, g);
        return { status: 201, body: g };
      })
      .on('GET', '/api/v1/groups/:name', (_call, { name }) => {
        const g = this.groups.get(name!);
        return g ? { status: 200, body: { ...g, vars: this.vars.get(`group/${name}`) ?? g.vars } } : fakeError(404, 'not_found', `no group ${name}`);
      })
      .on('PATCH', '/api/v1/groups/:name', (call, { name }) => {
        const g = this.groups.get(name!);
        if (!g) return fakeError(404, 'not_found', `no group ${name}`);
        const b = call.body as { priority?: number; selector?: string | null; description?: string; add?: string[]; remove?: string[] };
        if (b.selector?.includes('!!')) return fakeError(400, 'invalid_argument', `selector: cannot parse '${b.selector}'`);
        const members = [...g.members, ...(b.add ?? [])].filter((m) => !(b.remove ?? []).includes(m));
        const next: GroupView = {
          ...g,
          ...(b.priority !== undefined ? { priority: b.priority } : {}),
          ...(b.description !== undefined ? { description: b.description } : {}),
          ...(b.selector !== undefined ? { selector: b.selector } : {}),
          members,
        };
        this.groups.set(name!, next);
        return { status: 200, body: next };
      })
      .on('DELETE', '/api/v1/groups/:name', (_call, { name }) => {
        if (!this.groups.delete(name!)) return fakeError(404, 'not_found', `no group ${name}`);
        return { status: 204 };
      })
      .on('GET', '/api/v1/vars', (call) => {
        const key = `${call.query.get('scope')}/${call.query.get('target') ?? ''}`;
        return { status: 200, body: { scope: call.query.get('scope'), target: call.query.get('target'), vars: this.vars.get(key) ?? {}, updatedAt: null } };
      })
      .on('PUT', '/api/v1/vars', (call) => {
        const b = call.body as { scope: string; target?: string; set?: Record<string, unknown>; remove?: string[] };
        if (b.scope === 'group' && !this.groups.has(b.target ?? '')) return fakeError(404, 'not_found', `no group ${b.target}`);
        const key = `${b.scope}/${b.target ?? ''}`;
        const vars = { ...(this.vars.get(key) ?? {}), ...(b.set ?? {}) };
        for (const r of b.remove ?? []) delete vars[r];
        this.vars.set(key, vars);
        return { status: 200, body: { scope: b.scope, target: b.target ?? null, vars, updatedAt: '2026-12-05T11:00:00.000Z' } };
      });
  }

  private playRoutes(): void {
    this.on('GET', '/api/v1/templates', () => ({ status: 200, body: { items: [...this.templates.values()].map(({ playbook: _p, versions: _v, ...t }) => t) } }))
      .on('GET', '/api/v1/templates/:name', (_call, { name }) => {
        const t = this.templates.get(name!);
        return t ? { status: 200, body: t } : fakeError(404, 'not_found', `no template ${name}`);
      })
      .on('GET', '/api/v1/plays', () => ({ status: 200, body: { items: [...this.plays.values()].reverse() } }))
      .on('POST', '/api/v1/plays', (call) => {
        const b = call.body as { template: string; selector: string; serial?: string; check?: boolean; reason?: string };
        if (!this.templates.has(b.template)) return fakeError(404, 'not_found', `no template ${b.template}`);
        if (b.serial !== undefined && !/^([1-9][0-9]{0,5}|([1-9][0-9]?|100)%)$/.test(b.serial))
          return fakeError(400, 'invalid_argument', 'serial: a number of hosts (5) or a share of them (25%)');
        if (b.selector.includes('!!')) return fakeError(400, 'invalid_argument', `selector: cannot parse '${b.selector}'`);
        const id = `play_${this.plays.size + 1}`;
        const play: PlayView = {
          id,
          template: b.template,
          templateVersion: 1,
          selector: b.selector,
          serial: b.serial ?? null,
          check: b.check ?? false,
          state: 'PENDING',
          hosts: [],
          createdBy: 'ops',
          createdAt: '2026-12-05T11:00:00.000Z',
          startedAt: null,
          endedAt: null,
          exitCode: null,
          error: null,
          reason: b.reason ?? null,
        };
        this.plays.set(id, play);
        return { status: 201, body: play };
      })
      .on('GET', '/api/v1/plays/:id', (_call, { id }) => {
        const p = this.plays.get(id!);
        return p ? { status: 200, body: p } : fakeError(404, 'not_found', `no play ${id}`);
      })
      .on('GET', '/api/v1/plays/:id/events', (call, { id }) => {
        if (!this.plays.has(id!)) return fakeError(404, 'not_found', `no play ${id}`);
        const after = Number(call.query.get('after') ?? 0);
        const items = (this.events.get(id!) ?? []).filter((e) => e.seq > after);
        return { status: 200, body: { items, next: items.at(-1)?.seq ?? after } };
      })
      .on('POST', '/api/v1/plays/:id/cancel', (_call, { id }) => {
        const p = this.plays.get(id!);
        if (!p) return fakeError(404, 'not_found', `no play ${id}`);
        if (p.state !== 'PENDING' && p.state !== 'RUNNING') return fakeError(412, 'failed_precondition', `play ${id} is ${p.state}`);
        const next: PlayView = { ...p, state: 'CANCELED', endedAt: '2026-12-05T11:00:30.000Z' };
        this.plays.set(id!, next);
        return { status: 200, body: next };
      });
  }

  /** Every SSE stream the page opened. */
  readonly streams: FakeEventSource[] = [];

  /** The EventSource class to install with vi.stubGlobal; streams are kept in `streams` and driven by the test. */
  get EventSource(): typeof FakeEventSource {
    const net = { streams: this.streams, opened: () => undefined } as unknown as FakeRunNetwork;
    return class extends FakeEventSource {
      constructor(url: string) {
        super(url, net);
      }
    };
  }

  /** Appends log lines to a play (what the polling fallback reads). */
  addEvents(id: string, ...more: PlayEventView[]): void {
    this.events.set(id, [...(this.events.get(id) ?? []), ...more]);
  }
}
