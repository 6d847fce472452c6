import { spawn, type ChildProcess } from 'node:child_process';
import { execFile } from 'node:child_process';
import { createHash } from 'node:crypto';
import { existsSync, mkdtempSync, readFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { dirname, join, resolve } from 'node:path';
import { fileURLToPath } from 'node:url';
import { promisify } from 'node:util';
import { generateEd25519, signRollout, type Ed25519KeyPair, type RolloutPayload } from '@gpufleet/protocol';
import { runCli } from '../../../packages/cli/src/cli.js';
import { captureIo } from '../../../packages/cli/src/testing/capture-io.js';
import type { ChildServer } from '../support/child-server.js';
import { apiClient, type ApiCall } from '../support/http-json.js';
import { sleep } from '../support/wait-for.js';

/**
 * A real fleet for agent updates (issue 14): the built server in a child process with a TUF
 * repository (release keys made and uploaded by the CLI), a fleet root key, and agents run as
 * real processes by `gpufleet-agent launch` from the built tree.
 */

export const REPO = resolve(dirname(fileURLToPath(import.meta.url)), '../../..');
export const AGENT_BIN = join(REPO, 'packages/agent/dist/bin.js');
const run = promisify(execFile);

export function assertAgentBuilt(): void {
  if (!existsSync(AGENT_BIN)) throw new Error('the agent is not built: run `npm run build` first (`npm test` does it)');
}

/** The CLI in process against the server (as admin), or offline. */
export function cliFor(server: ChildServer, adminToken: string, cwd: string) {
  return async (...args: string[]) => {
    const io = captureIo({ columns: 160, cwd });
    const online = !(args[0] === 'releases' && args[1] === 'keys' && args[2] === 'init');
    const code = await runCli(online ? [...args, '--server', server.url, '--token', adminToken] : args, io);
    if (code !== 0) throw new Error(`gpufleet ${args.join(' ')} exited ${code}: ${io.stderr}`);
    return io.stdout;
  };
}

/** Release keys made and uploaded, and the fleet root set: what an operator does once. */
export async function setUpReleases(server: ChildServer, adminToken: string, work: string): Promise<{ root: Ed25519KeyPair; api: ApiCall; keys: string }> {
  const cli = cliFor(server, adminToken, work);
  const keys = join(work, 'keys');
  await cli('releases', 'keys', 'init', '--dir', keys);
  await cli('releases', 'keys', 'upload', '--dir', keys);
  const api = apiClient(server.url, adminToken);
  const root = generateEd25519();
  const init = await api('POST', '/api/v1/roots/init', { did: root.did });
  if (init.status !== 201) throw new Error(`roots/init answered ${init.status}: ${init.text}`);
  return { root, api, keys };
}

/** A rollout of an agent build to every host, signed by the fleet root, for the bytes in `tgz`. */
export function agentRollout(root: Ed25519KeyPair, version: string, tgz: Uint8Array, over: Partial<RolloutPayload> = {}) {
  return signRollout(
    {
      v: 1,
      release: { kind: 'agent', name: 'gpufleet-agent', version },
      target: { path: `agent/gpufleet-agent-${version}.tgz`, sha256: createHash('sha256').update(tgz).digest('hex') },
      selector: '',
      plan: { canary: 0, waves: [100], healthyForMs: 0, maxFailures: 1 },
      issuedAt: Date.now(),
      nonce: `e2e-rollout-${version}-${Date.now()}-${Math.random().toString(36).slice(2)}`,
      invoker: root.did,
      capability: null,
      ...over,
    },
    root.privateKeyPem,
  );
}

/** A host: joined by the built agent, then run by `gpufleet-agent launch` until stopped. */
export class LaunchedHost {
  readonly dataDir: string;
  readonly installDir: string;
  nodeId = '';
  output = '';
  private proc: ChildProcess | null = null;
  private exit: Promise<number | null> | null = null;

  constructor(readonly name: string) {
    this.dataDir = mkdtempSync(join(tmpdir(), `gpufleet-e2e-upd-${name}-`));
    this.installDir = join(this.dataDir, 'agent-install');
  }

  async join(token: string, releaseRoot: string): Promise<void> {
    const { stdout } = await run(process.execPath, [
      AGENT_BIN,
      'join',
      token,
      '--data-dir',
      this.dataDir,
      '--release-root',
      releaseRoot,
      '--hostname',
      this.name,
    ]);
    const id = /node id: (\S+)/.exec(stdout)?.[1];
    if (!id) throw new Error(`join printed no node id:\n${stdout}`);
    this.nodeId = id;
  }

  /** Starts the launcher (it starts the agent); `healthDeadline` as the flag takes it. */
  start(healthDeadline = '60s'): void {
    const args = [
      AGENT_BIN,
      'launch',
      '--health-deadline',
      healthDeadline,
      '--',
      '--data-dir',
      this.dataDir,
      '--hostname',
      this.name,
      '--kernel-log',
      'off',
      '--commands',
      'off',
      '--workloads',
      'off',
    ];
    const proc = spawn(process.execPath, args, { cwd: this.dataDir, stdio: ['ignore', 'pipe', 'pipe'] });
    this.proc = proc;
    const keep = (chunk: Buffer) => {
      this.output = (this.output + chunk.toString('utf8')).slice(-200_000);
    };
    proc.stdout!.on('data', keep);
    proc.stderr!.on('data', keep);
    this.exit = new Promise((res) => proc.once('exit', (code) => res(code)));
  }

  get running(): boolean {
    return this.proc !== null && this.proc.exitCode === null && this.proc.signalCode === null;
  }

  /** What the launcher started, in order (the entry of each agent), from its log lines. */
  agentStarts(): string[] {
    return [...this.output.matchAll(/"msg":"starting the agent","entry":"([^"]+)"/g)].map((m) => m[1]!);
  }

  async stop(): Promise<number | null> {
    const proc = this.proc;
    if (!proc || !this.exit) return null;
    if (this.running) proc.kill('SIGTERM');
    const timer = setTimeout(() => proc.kill('SIGKILL'), 15_000);
    try {
      return await this.exit;
    } finally {
      clearTimeout(timer);
      this.proc = null;
      await sleep(0);
    }
  }

  readFile(relative: string): string {
    return readFileSync(join(this.dataDir, relative), 'utf8');
  }
}
