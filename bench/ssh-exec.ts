// SSH exec benchmark (issue 12): `npm run bench -- ssh-exec [--hosts 50] [--rounds 3]`.
//
// Starts --hosts real sshd processes on loopback ports (one client key for all), then runs
// `uname -a` on every one of them, --rounds times each way, in the same run on the same hosts:
//   - through SshPool, a fresh pool each round (connecting, host key check and login included);
//   - with `ansible all -m command -a 'uname -a' -f <hosts>`, host key checking on against a
//     known_hosts file holding every sshd's key, and a fresh ControlPath folder each round (so
//     no round reuses the last one's master connections).
// Reports the median wall time of each and the speedup; writes bench/results/ssh-exec-<hosts>.json.
import { execFile } from 'node:child_process';
import { mkdirSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { parseArgs } from 'node:util';
import { SshPool } from '../packages/server/src/ssh/ssh-pool.js';
import type { SshEndpoint } from '../packages/server/src/ssh/ssh-transport.js';
import { makeKey, TestSshd } from '../test/support/test-sshd.js';
import { machineInfo, round } from './support.js';

const here = dirname(fileURLToPath(import.meta.url));
const ANSIBLE = '/usr/bin/ansible';

function median(xs: number[]): number {
  const s = [...xs].sort((a, b) => a - b);
  const mid = Math.floor(s.length / 2);
  return s.length % 2 ? s[mid]! : (s[mid - 1]! + s[mid]!) / 2;
}

async function poolRound(hosts: TestSshd[], privateKey: string): Promise<number> {
  const pool = new SshPool();
  const started = performance.now();
  const results = await Promise.all(
    hosts.map((h, i) => {
      const { algorithm, publicKey } = h.hostPublicKey();
      const ep: SshEndpoint = {
        name: `bench-${i}`,
        address: h.address,
        port: h.port,
        user: 'root',
        login: { kind: 'key', privateKey, passphrase: null },
        hostKey: { kind: 'pinned', key: { algorithm, publicKey, fingerprint: h.hostKeyFingerprint } },
        bastion: null,
      };
      // Generous: 50 sshd handshakes at once on a small machine take most of a minute.
      return pool.exec(ep, 'uname -a', { timeoutMs: 300_000 });
    }),
  );
  const ms = performance.now() - started;
  await pool.close();
  const bad = results.filter((r) => r.code !== 0 || !r.stdout.startsWith('Linux'));
  if (bad.length > 0) throw new Error(`SshPool: ${bad.length} hosts did not run uname: ${bad[0]!.stderr}`);
  return ms;
}

function ansibleRound(dir: string, round: number, hosts: number): Promise<number> {
  const cp = join(dir, `cp-${round}`);
  mkdirSync(cp);
  const env = {
    ...process.env,
    HOME: dir,
    ANSIBLE_HOST_KEY_CHECKING: 'True',
    ANSIBLE_LOCAL_TEMP: join(dir, 'tmp'),
    ANSIBLE_SSH_ARGS: `-o ControlMaster=auto -o ControlPersist=60s -o ControlPath=${cp}/%C -o UserKnownHostsFile=${join(dir, 'known_hosts')} -o StrictHostKeyChecking=yes`,
    ANSIBLE_PYTHON_INTERPRETER: '/usr/bin/python3',
    // The default 10 s connect timeout is too short for 50 handshakes at once on a small machine.
    ANSIBLE_TIMEOUT: '120',
  };
  const started = performance.now();
  return new Promise((resolve, reject) => {
    execFile(
      ANSIBLE,
      ['all', '-i', join(dir, 'inventory.ini'), '-m', 'command', '-a', 'uname -a', '-f', String(hosts)],
      { env, maxBuffer: 64 * 1024 * 1024 },
      (err, stdout, stderr) => {
        const ms = performance.now() - started;
        const ok = stdout.match(/\| CHANGED \| rc=0/g)?.length ?? 0;
        if (err || ok !== hosts)
          reject(new Error(`ansible: ${ok}/${hosts} hosts ran uname (${err?.message ?? ''})\n${stdout.slice(-2000)}\n${stderr.slice(-2000)}`));
        else resolve(ms);
      },
    );
  });
}

export async function runSshExecBench(argv: string[]): Promise<void> {
  const { values } = parseArgs({ args: argv, options: { hosts: { type: 'string', default: '50' }, rounds: { type: 'string', default: '3' } } });
  const count = Number(values.hosts);
  const rounds = Number(values.rounds);
  if (!Number.isInteger(count) || count < 1 || count > 500) throw new Error(`--hosts must be a whole number from 1 to 500, not ${values.hosts}`);
  if (!Number.isInteger(rounds) || rounds < 1 || rounds > 20) throw new Error(`--rounds must be a whole number from 1 to 20, not ${values.rounds}`);
  const dir = mkdtempSync(join(tmpdir(), 'gpufleet-bench-ssh-'));
  const keyPath = join(dir, 'id_bench');
  makeKey(keyPath);
  console.log(`starting ${count} sshd processes...`);
  const hosts = await TestSshd.startMany(count, join(dir, 'hosts'), [`${keyPath}.pub`]);
  try {
    writeFileSync(join(dir, 'known_hosts'), `${hosts.map((h) => h.knownHostsLine()).join('\n')}\n`);
    writeFileSync(
      join(dir, 'inventory.ini'),
      `[bench]\n${hosts.map((h, i) => `bench-${i} ansible_host=${h.address} ansible_port=${h.port} ansible_user=root ansible_ssh_private_key_file=${keyPath}`).join('\n')}\n`,
    );
    mkdirSync(join(dir, 'tmp'));
    const privateKey = readFileSync(keyPath, 'utf8');
    const poolMs: number[] = [];
    const ansibleMs: number[] = [];
    for (let r = 0; r < rounds; r++) {
      poolMs.push(await poolRound(hosts, privateKey));
      ansibleMs.push(await ansibleRound(dir, r, count));
      console.log(`  round ${r + 1}: SshPool ${round(poolMs[r]!)} ms, ansible ${round(ansibleMs[r]!)} ms`);
    }
    const result = {
      bench: 'ssh-exec',
      hosts: count,
      rounds,
      command: 'uname -a',
      sshPoolMs: { median: round(median(poolMs)), rounds: poolMs.map(round) },
      ansibleMs: { median: round(median(ansibleMs)), rounds: ansibleMs.map(round), forks: count },
      speedup: round(median(ansibleMs) / median(poolMs)),
      machine: machineInfo(),
      at: new Date().toISOString(),
    };
    console.log(`SshPool median ${result.sshPoolMs.median} ms, ansible median ${result.ansibleMs.median} ms: ${result.speedup}x`);
    mkdirSync(join(here, 'results'), { recursive: true });
    const out = join(here, 'results', `ssh-exec-${count}.json`);
    writeFileSync(out, `${JSON.stringify(result, null, 2)}\n`);
    console.log(`wrote ${out}`);
  } finally {
    await Promise.all(hosts.map((h) => h.stop()));
    rmSync(dir, { recursive: true, force: true });
  }
}
