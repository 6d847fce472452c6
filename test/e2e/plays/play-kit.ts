import { mkdtempSync, readFileSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { dirname, join, resolve } from 'node:path';
import { fileURLToPath } from 'node:url';
import { FleetError, type ResolvedVarsView, type VarOrigin } from '@gpufleet/protocol';
import type { NodeGroups, SshHostAccess, SshHostDirectory } from '../../../packages/server/src/jobcenter/job-center-contracts.js';
import type { ActionAudit } from '../../../packages/server/src/services/audit-log.js';
import type { ActionOutcome } from '../../../packages/server/src/services/audit-log.js';
import { openSqliteStore } from '../../../packages/server/src/store/sqlite-store.js';
import type { Store } from '../../../packages/server/src/store/store.js';
import { bareNode } from '../../../packages/server/src/store/__tests__/store-fixtures.js';
import { InProcessBus } from '../../../packages/server/src/bus/in-process-bus.js';
import { PlayService } from '../../../packages/server/src/plays/play-service.js';
import { PlayRunners } from '../../../packages/server/src/replicas/play-runners.js';
import { TemplateService } from '../../../packages/server/src/plays/template-service.js';
import { findOnPath } from '../../../packages/server/src/plays/run-folder.js';
import { fingerprintOf, makeKey, TestSshd } from '../../support/test-sshd.js';

export const REPO = resolve(dirname(fileURLToPath(import.meta.url)), '../../..');
export const PLAYBOOKS = join(REPO, 'playbooks');

/** An SSH host of the test fleet: a real sshd on loopback, logged into as root with a test key. */
export interface KitHost {
  nodeId: string;
  hostname: string;
  sshd: TestSshd;
  /** What the directory hands out as the pinned key (a test may pin a stale one). */
  pinned: SshHostAccess['hostKey'];
}

export function pinnedKeyOf(sshd: TestSshd): SshHostAccess['hostKey'] {
  const [algorithm, publicKey] = readFileSync(`${sshd.hostKeyPath}.pub`, 'utf8').trim().split(/\s+/);
  return { algorithm: algorithm!, publicKey: publicKey!, fingerprint: fingerprintOf(`${sshd.hostKeyPath}.pub`) };
}

/**
 * A small fleet for plays: real sshd hosts, a SQLite store, and in-test SshHostDirectory and
 * NodeGroups (the contracts helpers B and C implement) over plain maps. Selectors here are
 * `all`, `group=NAME` or a comma list of hostnames.
 */
export class PlayKit {
  readonly hosts: KitHost[] = [];
  readonly agentNodes: { nodeId: string; hostname: string }[] = [];
  readonly groups = new Map<string, { priority: number; members: Set<string>; vars: Record<string, unknown> }>();
  readonly globalVars: Record<string, unknown> = {};
  readonly nodeVars = new Map<string, Record<string, unknown>>();
  readonly audits: (ActionOutcome & { actor: string })[] = [];
  keyPath = '';
  /** What the play service reported through onError: a test expects none. */
  readonly errors: unknown[] = [];

  private constructor(
    readonly dir: string,
    readonly store: Store,
  ) {}

  static async start(hostnames: string[]): Promise<PlayKit> {
    const dir = mkdtempSync(join(tmpdir(), 'gpufleet-plays-'));
    const store = await openSqliteStore({ path: join(dir, 'store.db') });
    await store.migrate();
    const kit = new PlayKit(dir, store);
    kit.keyPath = join(dir, 'client_key');
    makeKey(kit.keyPath);
    for (const [i, hostname] of hostnames.entries()) {
      const sshd = await TestSshd.start(join(dir, `sshd-${hostname}`), [`${kit.keyPath}.pub`]);
      const nodeId = `did:key:z6MkPlayHost${i}`;
      await store.insertNode({ ...bareNode(nodeId), hostname, mode: 'ssh' });
      kit.hosts.push({ nodeId, hostname, sshd, pinned: pinnedKeyOf(sshd) });
    }
    return kit;
  }

  async addAgentNode(hostname: string): Promise<string> {
    const nodeId = `did:key:z6MkAgent${hostname}`;
    await this.store.insertNode({ ...bareNode(nodeId), hostname });
    this.agentNodes.push({ nodeId, hostname });
    return nodeId;
  }

  host(hostname: string): KitHost {
    const h = this.hosts.find((x) => x.hostname === hostname);
    if (!h) throw new Error(`no kit host ${hostname}`);
    return h;
  }

  readonly directory: SshHostDirectory = {
    sshNodeIds: async () => this.hosts.map((h) => h.nodeId),
    access: async (nodeId) => {
      const h = this.hosts.find((x) => x.nodeId === nodeId);
      if (!h) throw new FleetError('failed_precondition', `${nodeId} is not an SSH host`);
      return {
        nodeId,
        hostname: h.hostname,
        endpoint: {
          name: h.hostname,
          address: '127.0.0.1',
          port: h.sshd.port,
          user: 'root',
          login: { kind: 'key', privateKey: readFileSync(this.keyPath, 'utf8'), passphrase: null },
          hostKey: { kind: 'pinned', key: h.pinned },
          bastion: null,
        },
        hostKey: h.pinned,
        bastionHostKey: null,
      };
    },
  };

  private all(): { nodeId: string; hostname: string }[] {
    return [...this.hosts.map((h) => ({ nodeId: h.nodeId, hostname: h.hostname })), ...this.agentNodes];
  }

  readonly nodeGroups: NodeGroups = {
    select: async (selector) => {
      if (selector === 'all') return this.all().map((n) => n.nodeId);
      const group = /^group=(\w+)$/.exec(selector)?.[1];
      if (group !== undefined) return [...(this.groups.get(group)?.members ?? [])];
      const names = selector.split(',');
      if (names.some((n) => !/^[a-z0-9-]+$/.test(n))) throw new FleetError('invalid_argument', `selector: cannot read '${selector}'`);
      return this.all()
        .filter((n) => names.includes(n.hostname))
        .map((n) => n.nodeId);
    },
    groupsOf: async (nodeId) =>
      [...this.groups.entries()]
        .filter(([, g]) => g.members.has(nodeId))
        .map(([name, g]) => ({ name, priority: g.priority }))
        .sort((a, b) => b.priority - a.priority || a.name.localeCompare(b.name)),
    resolve: async (nodeId, extra) => {
      const vars: ResolvedVarsView['vars'] = {};
      const put = (values: Record<string, unknown>, scope: VarOrigin['scope'], source: string | null) => {
        for (const [k, value] of Object.entries(values)) vars[k] = { value, origin: { scope, source, overrides: [] } };
      };
      put(this.globalVars, 'global', null);
      const groups = await this.nodeGroups.groupsOf(nodeId);
      for (const g of [...groups].reverse()) put(this.groups.get(g.name)!.vars, 'group', g.name);
      put(this.nodeVars.get(nodeId) ?? {}, 'node', nodeId);
      put(extra, 'extra', null);
      const hostname = this.all().find((n) => n.nodeId === nodeId)?.hostname ?? nodeId;
      return { nodeId, hostname, groups, vars };
    },
  };

  audit(actor = 'token:ops(t1)'): ActionAudit {
    return { actor, note: async (entry) => void this.audits.push({ actor, ...entry }) };
  }

  templates(builtinDir: string | null = PLAYBOOKS): TemplateService {
    return new TemplateService({ store: this.store, clock: { now: () => Date.now() }, builtinDir });
  }

  plays(templates: TemplateService, options: { maxConcurrent?: number; graceMs?: number } = {}): PlayService {
    return new PlayService({
      store: this.store,
      clock: { now: () => Date.now() },
      templates,
      sshHosts: () => this.directory,
      nodeGroups: () => this.nodeGroups,
      // Agent hosts' parts are covered by agent-plays.test.ts with the real server; none here.
      runs: {
        submit: async () => Promise.reject(new Error('PlayKit: no agent parts')),
        get: async () => Promise.reject(new Error('PlayKit: no agent parts')),
        output: async () => Promise.reject(new Error('PlayKit: no agent parts')),
        cancel: async () => Promise.reject(new Error('PlayKit: no agent parts')),
      },
      // One control plane: this kit's instance is the only one alive.
      runners: new PlayRunners({
        bus: new InProcessBus(),
        replica: 'kit',
        instance: 'kit-instance',
        directory: { isAlive: (name, instance) => name === 'kit' && instance === 'kit-instance' },
        log: { warn: (obj, msg) => void this.errors.push(new Error(`${msg} ${JSON.stringify(obj)}`)) },
      }),
      runsDir: join(this.dir, 'runs'),
      ansiblePlaybook: findOnPath('ansible-playbook'),
      sshpass: findOnPath('sshpass'),
      ...options,
      onError: (err) => void this.errors.push(err),
    });
  }

  async close(): Promise<void> {
    for (const h of this.hosts) await h.sshd.stop();
    await this.store.close();
    rmSync(this.dir, { recursive: true, force: true });
  }
}

/** Waits for a play to reach a terminal state. */
export async function waitForEnd(plays: PlayService, id: string, timeoutMs = 60_000): Promise<Awaited<ReturnType<PlayService['get']>>> {
  const deadline = Date.now() + timeoutMs;
  for (;;) {
    const view = await plays.get(id);
    if (['SUCCEEDED', 'FAILED', 'CANCELED'].includes(view.state) && plays.running === 0) return plays.get(id);
    if (Date.now() > deadline) throw new Error(`play ${id} still ${view.state} after ${timeoutMs} ms`);
    await new Promise((r) => setTimeout(r, 100));
  }
}
