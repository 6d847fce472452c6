import type { CommandSpec } from '@gpufleet/protocol';

const MAX = 200;

/** Quotes a word the way a POSIX shell would need it, only when it has to. */
function shellWord(word: string): string {
  return /^[A-Za-z0-9_@%+=:,./-]+$/.test(word) ? word : `'${word.replace(/'/g, `'\\''`)}'`;
}

function clip(text: string): string {
  const oneLine = text.replace(/\s*\n\s*/g, ' ; ').trim();
  return oneLine.length > MAX ? `${oneLine.slice(0, MAX - 1)}…` : oneLine;
}

/** A short one-line text of what a command runs, for lists and the audit log. */
export function commandSummary(spec: CommandSpec): string {
  switch (spec.kind) {
    case 'argv':
      return clip(spec.argv.map(shellWord).join(' '));
    case 'shell':
      return clip(`sh -c ${shellWord(spec.script)}`);
    case 'script':
      return clip([`script ${spec.name} v${spec.version}`, ...spec.args.map(shellWord)].join(' '));
    case 'container':
      return clip(`container ${spec.op} ${spec.container}`);
  }
}
