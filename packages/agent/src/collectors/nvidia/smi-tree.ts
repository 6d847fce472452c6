import { slug } from './smi-values.js';
import type { XmlElement } from './xml-reader.js';

/**
 * `nvidia-smi -q` (text) and `nvidia-smi -q -x` (XML) print the same tree of sections and
 * values, with different spellings of the keys. Both are read into this one shape, keys slugged
 * (`FB Memory Usage` and `fb_memory_usage` both become `fbmemoryusage`), so one extractor
 * (snapshot-from-tree.ts) serves both formats.
 */
export interface SmiNode {
  /** The key slugged: lower case, letters and digits only. */
  readonly key: string;
  /** The key as printed, for reason names and messages. */
  readonly label: string;
  /** The value as printed, trimmed; null for a section without a value of its own. */
  readonly value: string | null;
  /** The PCI bus id of a GPU section (`GPU 00000000:17:00.0` header, or `<gpu id="...">`). */
  readonly id?: string;
  readonly children: SmiNode[];
}

/** The node found by following slugged child keys (first match at each step). */
export function smiChild(node: SmiNode | undefined, ...path: string[]): SmiNode | undefined {
  let current = node;
  for (const step of path) current = current?.children.find((c) => c.key === step);
  return current;
}

/** Every direct child with this slugged key. */
export function smiChildren(node: SmiNode | undefined, key: string): SmiNode[] {
  return node ? node.children.filter((c) => c.key === key) : [];
}

/** The value at a path, or null. */
export function smiValue(node: SmiNode | undefined, ...path: string[]): string | null {
  return smiChild(node, ...path)?.value ?? null;
}

/**
 * The value of the first path, in order, that is present with a real value (not N/A and the
 * like): formats and driver generations spell the same fact differently.
 */
export function smiFirst(node: SmiNode | undefined, paths: ReadonlyArray<readonly string[]>, isReal: (raw: string) => boolean): string | null {
  for (const path of paths) {
    const value = smiValue(node, ...path);
    if (value !== null && isReal(value)) return value;
  }
  return null;
}

/** An XML element as a tree node; the `id` attribute (GPU bus id) is kept. */
export function smiNodeFromXml(element: XmlElement): SmiNode {
  const text = element.text.trim();
  const id = element.attributes.id;
  return {
    key: slug(element.name),
    label: element.name,
    value: text === '' && element.children.length > 0 ? null : text,
    ...(id !== undefined ? { id } : {}),
    children: element.children.map(smiNodeFromXml),
  };
}

const GPU_HEADER = /^GPU\s+([0-9A-Fa-f]{4,8}:[0-9A-Fa-f]{2}:[0-9A-Fa-f]{2}\.[0-7])$/;
// Key, then a colon followed by whitespace or the end of the line: keeps `00000000:18:00.0` whole.
const KEY_VALUE = /^(.+?)\s*:(?:\s+(.*)|)$/;

interface Open {
  indent: number;
  node: SmiNode;
}

/**
 * Reads `nvidia-smi -q` text into a tree by indentation. `Key : value` lines are leaves (or
 * sections with a value, like `HW Slowdown` whose children are the HW thermal / power-brake
 * reasons); lines without ` : ` open sections; `GPU 00000000:17:00.0` opens a GPU. The root's
 * children are the top-level lines (Driver Version, Attached GPUs, the GPUs).
 */
export function smiTreeFromText(text: string): SmiNode {
  const root: SmiNode = { key: '', label: '', value: null, children: [] };
  const stack: Open[] = [];
  for (const rawLine of text.split(/\r?\n/)) {
    const content = rawLine.trim();
    // Blank lines and the `====NVSMI LOG====` banner carry nothing.
    if (content === '' || /^=+[^=]*=+$/.test(content)) continue;
    const indent = rawLine.length - rawLine.trimStart().length;
    let node: SmiNode;
    const header = GPU_HEADER.exec(content);
    if (header) {
      node = { key: 'gpu', label: content, value: null, id: header[1]!, children: [] };
    } else {
      const kv = KEY_VALUE.exec(content);
      const label = kv ? kv[1]!.trim() : content;
      node = { key: slug(label), label, value: kv ? (kv[2] ?? '').trim() : null, children: [] };
    }
    while (stack.length > 0 && stack[stack.length - 1]!.indent >= indent) stack.pop();
    (stack.length > 0 ? stack[stack.length - 1]!.node : root).children.push(node);
    stack.push({ indent, node });
  }
  return root;
}
