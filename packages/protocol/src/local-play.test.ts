import { execFileSync } from 'node:child_process';
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { describe, expect, it } from 'vitest';
import { localPlayScript, localPlayTarget, type LocalPlayInput } from './local-play.js';

const input: LocalPlayInput = {
  template: { name: 'check', version: 2, sha256: 'ab'.repeat(32), playbook: '- hosts: all\n  tasks: []\n', become: false },
  hostname: 'gpu-1',
  groups: ['gpu', 'all', 'ungrouped'],
  defaults: { port: 9100 },
  vars: { note: "it's $HOME `x`" },
  extraVars: { run: 1 },
  check: false,
};

/** Runs `script` with ansible-playbook replaced by a recorder of its argv and the files it was given. */
function dryRun(script: string): { argv: string[]; playbook: string; inventory: unknown; extra: unknown } {
  const dir = mkdtempSync(join(tmpdir(), 'gpufleet-local-play-'));
  try {
    writeFileSync(
      join(dir, 'ansible-playbook'),
      '#!/bin/sh\nprintf "%s\\n" "$@" > "$OUT/argv"\ncp "$2" "$OUT/inventory"; cp "$(echo "$4" | cut -c2-)" "$OUT/extra"; cp "$5" "$OUT/playbook"\n',
      { mode: 0o755 },
    );
    writeFileSync(join(dir, 'play.sh'), script);
    execFileSync('sh', [join(dir, 'play.sh')], { env: { PATH: `${dir}:/usr/bin:/bin`, OUT: dir } });
    const read = (f: string) => execFileSync('cat', [join(dir, f)], { encoding: 'utf8' });
    return { argv: read('argv').trimEnd().split('\n'), playbook: read('playbook'), inventory: JSON.parse(read('inventory')), extra: JSON.parse(read('extra')) };
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
}

describe('localPlayScript', () => {
  it('hands ansible-playbook the playbook, an inventory of this host alone (its groups and variables, connection local) and the extra variables, byte for byte', () => {
    const r = dryRun(localPlayScript(input));
    expect(r.playbook).toBe(input.template.playbook);
    expect(r.inventory).toEqual({
      all: {
        vars: { port: 9100 },
        hosts: { 'gpu-1': { note: "it's $HOME `x`", ansible_connection: 'local', ansible_python_interpreter: 'auto_silent' } },
        children: { gpu: { hosts: { 'gpu-1': null } } },
      },
    });
    expect(r.extra).toEqual({ run: 1 });
    expect(r.argv.slice(-2)).toEqual(['-l', 'gpu-1']);
    expect(r.argv).not.toContain('--check');
    expect(r.argv).not.toContain('--become');
  });

  it('a playbook that tries to end the here-document early, or holds shell, stays text', () => {
    const hostile = "- hosts: all\n  tasks: []\nGPUFLEET_EOF\nGPUFLEET_EOF_1\n$(touch /tmp/pwned)\n'`\nEOF\n";
    const r = dryRun(localPlayScript({ ...input, template: { ...input.template, playbook: hostile }, check: true }));
    expect(r.playbook).toBe(hostile);
    expect(r.argv).toContain('--check');
    expect(localPlayScript({ ...input, template: { ...input.template, playbook: hostile } })).toContain("<<'GPUFLEET_EOF_2'");
  });

  it('is the same text for the same input (the server renders it again and compares), and differs when anything the host acts on differs', () => {
    const a = localPlayScript(input);
    expect(localPlayScript({ ...input })).toBe(a);
    for (const other of [
      { ...input, vars: { note: 'other' } },
      { ...input, extraVars: { run: 2 } },
      { ...input, check: true },
      { ...input, hostname: 'gpu-2' },
      { ...input, template: { ...input.template, become: true } },
      { ...input, groups: ['gpu', 'db'] },
    ]) {
      expect(localPlayScript(other)).not.toBe(a);
    }
    expect(localPlayScript({ ...input, template: { ...input.template, become: true } })).toMatch(/--become/);
  });

  it('targets the host by its own hostname label', () => {
    expect(localPlayTarget('gpu-1.lab')).toBe('hostname=gpu-1.lab');
    expect(localPlayTarget('odd host!')).toBe('hostname=odd-host');
  });
});
