/**
 * Quoting for commands sent over SSH (a POSIX `sh` on the far end) and for systemd unit lines.
 * Every word we did not write ourselves goes through one of these, so a token, a path or a label
 * is always one argument and never shell syntax.
 */

/** One word for `sh`: left bare when it is plainly safe, else single-quoted (a `'` inside becomes `'\''`). */
export function shellQuote(word: string): string {
  if (word.includes('\u0000')) throw new Error('a shell word cannot contain a NUL byte');
  if (/^[A-Za-z0-9_@%+=:,./-]+$/.test(word)) return word;
  return `'${word.replace(/'/g, `'\\''`)}'`;
}

/** A command line for `sh` from argv words. */
export function shellCommand(argv: readonly string[]): string {
  return argv.map(shellQuote).join(' ');
}

/**
 * One word of a systemd `ExecStart=` line: double-quoted with `\` and `"` escaped, and `%` and
 * `$` doubled because systemd expands specifiers and environment variables even inside quotes.
 */
export function systemdQuote(word: string): string {
  if (/[\u0000-\u001f\u007f]/.test(word)) throw new Error('a systemd argument cannot contain control characters');
  const escaped = word.replace(/%/g, '%%').replace(/\$/g, '$$$$');
  if (/^[A-Za-z0-9_@+=:,./-]*$/.test(word.replace(/[%$]/g, '')) && word !== '') return escaped;
  return `"${escaped.replace(/\\/g, '\\\\').replace(/"/g, '\\"')}"`;
}
