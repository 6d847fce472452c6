import { existsSync, mkdirSync, readFileSync, readlinkSync, renameSync, rmSync, symlinkSync, writeFileSync } from 'node:fs';
import { dirname, join, resolve, sep } from 'node:path';
import { FleetError } from '@gpufleet/protocol';
import { AGENT_ENTRY, AGENT_RELEASE_JSON } from './agent-release.js';
import { manifestOf, slotProblem, writeSlotManifest } from './slot-manifest.js';

/**
 * The A/B layout of installed agent builds (issue 14):
 *
 *   <install-dir>/a/gpufleet-agent/agent.mjs   one build
 *   <install-dir>/a/.gpufleet-slot.json        the sha256 of its files as installed
 *   <install-dir>/b/gpufleet-agent/agent.mjs   the other
 *   <install-dir>/current  -> a                what the launcher starts
 *   <install-dir>/previous -> b                what a rollback goes back to
 *
 * A new build is unpacked into the slot `current` does not name, so the running one is never
 * touched. Links change by writing a new link and renaming it over the old one, so a crash
 * leaves either the old or the new link. `previous -> builtin` means the build before was the
 * agent the launcher itself belongs to (no slot): going back removes `current`.
 */

export type Slot = 'a' | 'b';
export const BUILTIN = 'builtin';

export class InstallLayout {
  constructor(readonly dir: string) {}

  private link(name: 'current' | 'previous'): string | null {
    try {
      return readlinkSync(join(this.dir, name));
    } catch {
      return null;
    }
  }

  /** The slot `current` names; null when the built-in agent runs. */
  get current(): Slot | null {
    const target = this.link('current');
    return target === 'a' || target === 'b' ? target : null;
  }

  /** What a rollback goes back to: a slot, the built-in agent, or nothing. */
  get previous(): Slot | typeof BUILTIN | null {
    const target = this.link('previous');
    return target === 'a' || target === 'b' || target === BUILTIN ? target : null;
  }

  /** The slot a new build goes to. */
  get inactive(): Slot {
    return this.current === 'a' ? 'b' : 'a';
  }

  slotDir(slot: Slot): string {
    return join(this.dir, slot);
  }

  /** The entry point of the build `current` names, or null when none is installed. */
  currentEntry(): string | null {
    const slot = this.current;
    if (!slot) return null;
    const entry = join(this.slotDir(slot), AGENT_ENTRY);
    return existsSync(entry) ? entry : null;
  }

  /** The version a slot's release.json names, or null. */
  slotVersion(slot: Slot): string | null {
    try {
      const v = (JSON.parse(readFileSync(join(this.slotDir(slot), AGENT_RELEASE_JSON), 'utf8')) as { version?: unknown }).version;
      return typeof v === 'string' ? v : null;
    } catch {
      return null;
    }
  }

  /**
   * Empties `slot` and writes `files` into it, then the record of their hashes the launcher checks
   * before starting them; refuses (before writing) any path that resolves outside it.
   */
  fill(slot: Slot, files: ReadonlyMap<string, Uint8Array>): void {
    if (slot === this.current) throw new FleetError('failed_precondition', `slot ${slot} holds the running build`);
    const root = resolve(this.slotDir(slot));
    const targets = [...files].map(([name, bytes]) => {
      const path = resolve(root, name);
      if (!path.startsWith(root + sep)) throw new FleetError('invalid_argument', `release file '${name.slice(0, 120)}' would land outside the install slot`);
      return { path, bytes };
    });
    rmSync(root, { recursive: true, force: true });
    mkdirSync(root, { recursive: true, mode: 0o755 });
    for (const t of targets) {
      mkdirSync(dirname(t.path), { recursive: true, mode: 0o755 });
      writeFileSync(t.path, t.bytes, { mode: 0o644 });
    }
    writeSlotManifest(root, manifestOf(files));
  }

  /** Why the build in `slot` must not be started (a file changed or missing since install), or null. */
  problem(slot: Slot): string | null {
    return slotProblem(this.slotDir(slot));
  }

  /** Stops naming any slot current: the launcher starts the built-in agent. */
  dropCurrent(): void {
    rmSync(join(this.dir, 'current'), { force: true });
  }

  /** Makes `slot` current; what was current (or the built-in agent) becomes previous. */
  switchTo(slot: Slot): void {
    mkdirSync(this.dir, { recursive: true, mode: 0o755 });
    this.setLink('previous', this.current ?? BUILTIN);
    this.setLink('current', slot);
  }

  /**
   * Goes back to `previous` (a slot, or the built-in agent); the build left becomes nothing to
   * go back to. Returns false when there is no previous build.
   */
  switchBack(): boolean {
    const previous = this.previous;
    if (previous === null) return false;
    if (previous === BUILTIN) this.dropCurrent();
    else this.setLink('current', previous);
    rmSync(join(this.dir, 'previous'), { force: true });
    return true;
  }

  private setLink(name: 'current' | 'previous', target: string): void {
    const tmp = join(this.dir, `.${name}.tmp-${process.pid}`);
    rmSync(tmp, { force: true });
    symlinkSync(target, tmp);
    renameSync(tmp, join(this.dir, name));
  }
}
