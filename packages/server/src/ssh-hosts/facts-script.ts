import { randomBytes } from 'node:crypto';

/**
 * The one shell script fact collection runs over SSH (POSIX sh): the files the agent's host
 * collector reads, a few commands standing in for node:os, and every vendor tool the agent's
 * hardware backend runs on a first pass, each section behind a marker that carries a fresh
 * nonce (so no tool output can forge one). remote-facts.ts feeds the sections to the agent's
 * own readers and parsers.
 */

/** The files readHostFacts and HostSampler read below their root. */
export const FACT_FILES = [
  '/proc/cpuinfo',
  '/proc/meminfo',
  '/proc/stat',
  '/proc/loadavg',
  '/proc/net/dev',
  '/proc/self/mounts',
  '/proc/sys/kernel/hostname',
  '/etc/os-release',
  '/usr/lib/os-release',
] as const;

/** The vendor tool runs of the agent's first pass (hardware/vendors/*-source.ts), as command and arguments. */
export const FACT_TOOLS: ReadonlyArray<readonly [string, ...string[]]> = [
  ['nvidia-smi', '-q', '-x'],
  ['amd-smi', 'static', '--json'],
  ['amd-smi', 'metric', '--json'],
  ['rocm-smi', '-a', '--json'],
  ['xpu-smi', 'discovery', '-j'],
  ['npu-smi', 'info'],
];

export interface FactsScript {
  script: string;
  nonce: string;
}

export function factsScript(nonce = randomBytes(9).toString('hex')): FactsScript {
  const lines = [
    'LC_ALL=C; export LC_ALL',
    't=$(mktemp -d 2>/dev/null || echo /tmp/gpufleet-facts.$$); mkdir -p "$t"',
    'trap \'rm -rf "$t"\' EXIT',
    `m() { printf '\\n@@gpufleet-${nonce}:%s@@\\n' "$*"; }`,
    // Missing tools are told apart from failing ones, as the agent's runner does (ENOENT).
    'tool() { k="$*"; if ! command -v "$1" >/dev/null 2>&1; then m missing "$k"; return; fi; "$@" >"$t/o" 2>"$t/e" </dev/null; rc=$?; m out "$k"; cat "$t/o"; m err "$k"; cat "$t/e"; m rc "$rc" "$k"; }',
    ...FACT_FILES.map((f) => `if [ -r ${f} ]; then m file ${f}; cat ${f}; fi`),
    'm cmd hostname; (hostname 2>/dev/null || cat /proc/sys/kernel/hostname)',
    'm cmd uname-r; uname -r',
    'm cmd uname-m; uname -m',
    'm cmd df; df -P -B1 2>/dev/null',
    'm cmd ip-addr; ip -o addr show 2>/dev/null',
    'm cmd ip-link; ip -o link show 2>/dev/null',
    ...FACT_TOOLS.map((t) => `tool ${t.join(' ')}`),
    'm end',
  ];
  return { script: `${lines.join('\n')}\n`, nonce };
}

/** One marked section: its marker words (`file /proc/stat`, `out nvidia-smi -q -x`, `rc 0 nvidia-smi -q -x`) and text. */
export interface FactSection {
  marker: string;
  text: string;
}

/** Splits the script's output into sections; text before the first marker (a login banner) is dropped. */
export function splitSections(output: string, nonce: string): { sections: FactSection[]; complete: boolean } {
  const re = new RegExp(`^@@gpufleet-${nonce}:(.*)@@$`);
  const sections: FactSection[] = [];
  let current: { marker: string; lines: string[] } | null = null;
  const flush = () => {
    // Each marker is printed after a newline of its own: drop that one empty line.
    if (current) sections.push({ marker: current.marker, text: current.lines.join('\n').replace(/\n$/, '') });
  };
  let complete = false;
  for (const line of output.split('\n')) {
    const m = re.exec(line);
    if (!m) {
      current?.lines.push(line);
      continue;
    }
    flush();
    if (m[1] === 'end') {
      complete = true;
      current = null;
      break;
    }
    current = { marker: m[1]!, lines: [] };
  }
  if (!complete) flush();
  return { sections, complete };
}
