import { FleetError } from '@gpufleet/protocol';

/**
 * A small, strict, non-validating XML reader: enough for `nvidia-smi -q -x` and safe on hostile
 * input. Elements, attributes, character data, CDATA and the five predefined entities plus
 * numeric character references are understood; comments, processing instructions and the
 * DOCTYPE (including an internal subset) are skipped. Entities declared in a DTD are never
 * expanded, so entity-expansion bombs cannot happen. It works with an explicit stack, not
 * recursion, so deep nesting cannot overflow the call stack; a depth limit still applies.
 */

/** One element: its name, attributes, child elements and the character data directly inside it. */
export interface XmlElement {
  readonly name: string;
  /** Attribute values with entities decoded. A prototype-less object: `__proto__` is just a key. */
  readonly attributes: Readonly<Record<string, string>>;
  readonly children: XmlElement[];
  /** Character data directly inside this element (not its children's), entities decoded, untrimmed. */
  text: string;
}

export interface XmlReadOptions {
  /** Deepest element nesting accepted. Default 128 (nvidia-smi nests about 6 deep). */
  maxDepth?: number;
  /** Longest input accepted, in characters. Default 64 Mi. */
  maxLength?: number;
}

const NAME = /[A-Za-z_:][-A-Za-z0-9_.:]*/y;
const SPACE = /[ \t\r\n]*/y;
const PREDEFINED: Record<string, string> = { amp: '&', lt: '<', gt: '>', quot: '"', apos: "'" };

/** Reads a whole XML document and returns its root element. Malformed input: FleetError('invalid_argument'). */
export function readXml(source: string, options: XmlReadOptions = {}): XmlElement {
  const maxDepth = options.maxDepth ?? 128;
  const maxLength = options.maxLength ?? 64 * 1024 * 1024;
  if (typeof source !== 'string') throw new FleetError('invalid_argument', 'XML input is not a string');
  if (source.length > maxLength) {
    throw new FleetError('invalid_argument', `XML input is ${source.length} characters, more than the ${maxLength} allowed`);
  }
  const src = source.charCodeAt(0) === 0xfeff ? source.slice(1) : source;
  const fail = (at: number, what: string): never => {
    throw new FleetError('invalid_argument', `malformed XML at line ${lineOf(src, at)}: ${what}`);
  };

  const stack: XmlElement[] = [];
  let root: XmlElement | null = null;
  let pos = 0;

  while (pos < src.length) {
    const lt = src.indexOf('<', pos);
    const textEnd = lt === -1 ? src.length : lt;
    if (textEnd > pos) {
      const raw = src.slice(pos, textEnd);
      const top = stack[stack.length - 1];
      if (top) top.text += decodeEntities(raw, pos, fail);
      else if (/[^ \t\r\n]/.test(raw)) fail(pos, root ? 'text after the root element' : 'text before the root element');
      pos = textEnd;
      continue;
    }

    // pos is at '<'.
    if (src.startsWith('<!--', pos)) {
      const end = src.indexOf('-->', pos + 4);
      if (end === -1) fail(pos, 'unterminated comment');
      pos = end + 3;
    } else if (src.startsWith('<?', pos)) {
      const end = src.indexOf('?>', pos + 2);
      if (end === -1) fail(pos, 'unterminated processing instruction');
      pos = end + 2;
    } else if (src.startsWith('<![CDATA[', pos)) {
      const top = stack[stack.length - 1];
      if (!top) fail(pos, 'CDATA outside the root element');
      const end = src.indexOf(']]>', pos + 9);
      if (end === -1) fail(pos, 'unterminated CDATA section');
      top!.text += src.slice(pos + 9, end);
      pos = end + 3;
    } else if (src.startsWith('<!DOCTYPE', pos)) {
      if (root || stack.length > 0) fail(pos, 'DOCTYPE after the root element started');
      pos = skipDoctype(src, pos, fail);
    } else if (src.startsWith('</', pos)) {
      const name = readName(src, pos + 2) ?? fail(pos, 'bad closing tag');
      let at = skipSpace(src, pos + 2 + name.length);
      if (src[at] !== '>') fail(at, `closing tag </${name}> not ended with '>'`);
      const open = stack.pop();
      if (!open) fail(pos, `closing tag </${name}> without an open element`);
      if (open!.name !== name) fail(pos, `closing tag </${name}> does not match <${open!.name}>`);
      pos = at + 1;
    } else {
      if (root && stack.length === 0) fail(pos, 'a second root element');
      const name = readName(src, pos + 1) ?? fail(pos, "'<' not followed by a tag name");
      const element: XmlElement = { name, attributes: Object.create(null) as Record<string, string>, children: [], text: '' };
      let at = pos + 1 + name.length;
      let selfClosing = false;
      for (;;) {
        const before = at;
        at = skipSpace(src, at);
        if (at >= src.length) fail(pos, `tag <${name}> not ended`);
        if (src[at] === '>') { at += 1; break; }
        if (src.startsWith('/>', at)) { at += 2; selfClosing = true; break; }
        if (at === before) fail(at, `expected whitespace before an attribute in <${name}>`);
        const attr = readName(src, at) ?? fail(at, `bad attribute name in <${name}>`);
        at = skipSpace(src, at + attr.length);
        if (src[at] !== '=') fail(at, `attribute ${attr} in <${name}> has no '='`);
        at = skipSpace(src, at + 1);
        const quote = src[at];
        if (quote !== '"' && quote !== "'") fail(at, `attribute ${attr} in <${name}> is not quoted`);
        const close = src.indexOf(quote!, at + 1);
        if (close === -1) fail(at, `attribute ${attr} in <${name}> not closed`);
        const rawValue = src.slice(at + 1, close);
        if (rawValue.includes('<')) fail(at, `'<' inside attribute ${attr}`);
        const attrs = element.attributes as Record<string, string>;
        if (Object.prototype.hasOwnProperty.call(attrs, attr)) fail(at, `duplicate attribute ${attr} in <${name}>`);
        attrs[attr] = decodeEntities(rawValue, at + 1, fail);
        at = close + 1;
      }
      const parent = stack[stack.length - 1];
      if (parent) parent.children.push(element);
      else root = element;
      if (!selfClosing) {
        if (stack.length >= maxDepth) fail(pos, `elements nested deeper than ${maxDepth}`);
        stack.push(element);
      }
      pos = at;
    }
  }

  if (stack.length > 0) fail(src.length, `input ended inside <${stack[stack.length - 1]!.name}> (truncated?)`);
  if (!root) fail(src.length, 'no root element');
  return root!;
}

/** The first child element with this name. */
export function xmlChild(element: XmlElement, name: string): XmlElement | undefined {
  return element.children.find((c) => c.name === name);
}

/** Every child element with this name, in document order. */
export function xmlChildren(element: XmlElement, name: string): XmlElement[] {
  return element.children.filter((c) => c.name === name);
}

/** Trimmed text of the element found by following child names; undefined when a step is missing. */
export function xmlText(element: XmlElement, ...path: string[]): string | undefined {
  let current: XmlElement | undefined = element;
  for (const step of path) {
    current = current && xmlChild(current, step);
  }
  return current?.text.trim();
}

function readName(src: string, at: number): string | null {
  NAME.lastIndex = at;
  const m = NAME.exec(src);
  return m ? m[0] : null;
}

function skipSpace(src: string, at: number): number {
  SPACE.lastIndex = at;
  SPACE.exec(src);
  return SPACE.lastIndex;
}

function skipDoctype(src: string, start: number, fail: (at: number, what: string) => never): number {
  // The internal subset (between '[' and ']') may itself contain '>', so step over it first.
  // Its declarations are ignored on purpose: nothing declared there is ever expanded.
  let at = start + '<!DOCTYPE'.length;
  for (;;) {
    if (at >= src.length) fail(start, 'unterminated DOCTYPE');
    const ch = src[at];
    if (ch === '>') return at + 1;
    if (ch === '"' || ch === "'") {
      const close = src.indexOf(ch, at + 1);
      if (close === -1) fail(at, 'unterminated literal in DOCTYPE');
      at = close + 1;
    } else if (ch === '[') {
      const close = src.indexOf(']', at + 1);
      if (close === -1) fail(at, 'unterminated internal subset in DOCTYPE');
      at = close + 1;
    } else {
      at += 1;
    }
  }
}

function decodeEntities(raw: string, offset: number, fail: (at: number, what: string) => never): string {
  if (!raw.includes('&')) return raw;
  return raw.replace(/&([^;&<\s]{0,12});?/g, (whole, body: string, index: number) => {
    if (!whole.endsWith(';')) return fail(offset + index, `'&' not starting an entity reference`);
    const named = PREDEFINED[body];
    if (named !== undefined && Object.prototype.hasOwnProperty.call(PREDEFINED, body)) return named;
    const numeric = /^#(?:x([0-9A-Fa-f]{1,6})|([0-9]{1,7}))$/.exec(body);
    if (numeric) {
      const code = numeric[1] !== undefined ? parseInt(numeric[1], 16) : parseInt(numeric[2]!, 10);
      const valid = code > 0 && code <= 0x10ffff && !(code >= 0xd800 && code <= 0xdfff);
      if (!valid) return fail(offset + index, `character reference ${whole} is not a valid character`);
      return String.fromCodePoint(code);
    }
    return fail(offset + index, `unknown entity ${whole} (only the five XML entities are understood)`);
  });
}

function lineOf(src: string, at: number): number {
  let line = 1;
  const end = Math.min(at, src.length);
  for (let i = src.indexOf('\n'); i !== -1 && i < end; i = src.indexOf('\n', i + 1)) line += 1;
  return line;
}
