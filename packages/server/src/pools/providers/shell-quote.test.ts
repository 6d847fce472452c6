import { execFileSync } from 'node:child_process';
import { describe, expect, it } from 'vitest';
import { shellCommand, shellQuote, systemdQuote } from './shell-quote.js';

const NASTY = ["it's", 'a b', '$(touch /tmp/pwned)', '`id`', '"; rm -rf /', 'new\nline', '*', '', '\\', "'"];

describe('shellQuote', () => {
  it('leaves plain words bare', () => {
    expect(shellQuote('/var/lib/gpufleet-agent')).toBe('/var/lib/gpufleet-agent');
    expect(shellQuote('gfj1.abc-DEF_123')).toBe('gfj1.abc-DEF_123');
  });

  it('makes every word one argument that a real sh reads back unchanged', () => {
    const out = execFileSync('sh', ['-c', `printf '%s\\0' ${shellCommand(NASTY)}`]).toString('utf8');
    expect(out.split('\u0000').slice(0, -1)).toEqual(NASTY);
  });

  it('refuses a NUL byte', () => {
    expect(() => shellQuote('a\u0000b')).toThrow(/NUL/);
  });
});

describe('systemdQuote', () => {
  it('escapes specifiers, variables, quotes and backslashes', () => {
    expect(systemdQuote('/usr/bin/node')).toBe('/usr/bin/node');
    expect(systemdQuote('100%')).toBe('100%%');
    expect(systemdQuote('$HOME')).toBe('$$HOME');
    expect(systemdQuote('a b')).toBe('"a b"');
    expect(systemdQuote('say "hi" \\ now')).toBe('"say \\"hi\\" \\\\ now"');
  });

  it('refuses control characters (a newline would start a new unit line)', () => {
    expect(() => systemdQuote('a\nExecStartPre=/bin/evil')).toThrow(/control characters/);
  });
});
