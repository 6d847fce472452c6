import { execFile } from 'node:child_process';
import { randomBytes } from 'node:crypto';
import { mkdtempSync, rmSync } from 'node:fs';
import { dirname, join, resolve } from 'node:path';
import { fileURLToPath } from 'node:url';
import { promisify } from 'node:util';

const run = promisify(execFile);
const REPO = resolve(dirname(fileURLToPath(import.meta.url)), '../..');
const SCRIPT = join(REPO, 'scripts/podman-test-env.sh');
/** The busybox image scripts/podman-test-env.sh imports. */
export const TEST_IMAGE = 'localhost/fleet-test:1';

/**
 * A real Podman serving the Docker Engine API on a socket in a temp dir (see
 * scripts/podman-test-env.sh), plus the containers a test made, all removed by `close()`.
 */
export class PodmanEnv {
  private readonly names: string[] = [];
  private constructor(
    readonly dir: string,
    readonly socketPath: string,
  ) {}

  /** Starts the service; fails with the script's explanation when Podman cannot run here. */
  static async start(): Promise<PodmanEnv> {
    // Short path: a unix socket path must stay under 108 bytes.
    const dir = mkdtempSync('/tmp/gfp-');
    try {
      const { stdout } = await run('bash', [SCRIPT, 'start', dir], { timeout: 90_000 });
      return new PodmanEnv(dir, stdout.trim().split('\n').pop()!);
    } catch (err) {
      rmSync(dir, { recursive: true, force: true });
      const e = err as { stderr?: string; code?: number | string; killed?: boolean };
      const why = e.killed ? 'it took longer than 90 s' : e.stderr?.trim() || String(err);
      throw new Error(
        `the container tests need a real Podman (CI installs it: apt-get install -y podman runc busybox-static), but scripts/podman-test-env.sh failed (exit ${e.code}): ${why}`,
      );
    }
  }

  /** `podman ARGS` with this environment's containers.conf. */
  async podman(args: string[], timeoutMs = 30_000): Promise<string> {
    const { stdout } = await run('podman', args, { env: { ...process.env, CONTAINERS_CONF: join(this.dir, 'containers.conf') }, timeout: timeoutMs });
    return stdout.trim();
  }

  /** Runs a detached container from the test image under a unique name; returns the name. */
  async runContainer(label: string, shellScript: string, opts: { tty?: boolean } = {}): Promise<string> {
    const name = `gf-${label}-${randomBytes(4).toString('hex')}`;
    this.names.push(name);
    await this.podman(['run', '-d', ...(opts.tty ? ['-t'] : []), '--name', name, TEST_IMAGE, '/bin/sh', '-c', shellScript]);
    return name;
  }

  /** Removes the containers and stops the service; never throws (it runs in afterAll). */
  async close(): Promise<void> {
    if (this.names.length > 0) await this.podman(['rm', '-f', '-t', '0', ...this.names]).catch(() => undefined);
    await run('bash', [SCRIPT, 'stop', this.dir], { timeout: 20_000 }).catch(() => undefined);
    rmSync(this.dir, { recursive: true, force: true });
  }
}
