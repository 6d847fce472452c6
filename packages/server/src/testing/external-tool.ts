import { execFileSync } from 'node:child_process';

/**
 * Fails a test suite, clearly, when a real outside program it talks to is missing: tests that
 * need Prometheus or Alertmanager run against the real binaries (.ci/run installs them), and a
 * machine without them gets the install line instead of a silently skipped suite.
 */
export function requireTool(bin: string, debianPackage: string): void {
  try {
    execFileSync(bin, ['--version'], { stdio: 'ignore' });
  } catch {
    throw new Error(`'${bin}' is not installed: apt-get install -y --no-install-recommends ${debianPackage} (bash .ci/run installs it)`);
  }
}
