import { FleetError } from '@gpufleet/protocol';
import { XMLParser, XMLValidator } from 'fast-xml-parser';

/**
 * Reads `nvidia-smi -q -x` with fast-xml-parser into a small element tree, strictly and safely
 * on hostile input. fast-xml-parser's validator checks well-formedness (with the line of the
 * problem); its parser builds the tree, with the pieces that matter for safety set here:
 * entities declared in a DTD are never expanded (no entity-expansion bombs), only the five XML
 * entities and numeric character references are decoded (anything else is an error), nesting
 * is bounded, and names that could touch an object prototype are refused by the library.
 */

/** One element: its name, attributes, child elements and the character data directly inside it. */
export interface XmlElement {
  readonly name: string;
  /** Attribute values with entities decoded. A prototype-less object. */
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

const PREDEFINED: Record<string, string> = { amp: '&', lt: '<', gt: '>', quot: '"', apos: "'" };
const TEXT = '#text';
const CDATA = '#cdata';
const ATTRIBUTES = ':@';

/** A node of fast-xml-parser's `preserveOrder` output: one key (tag, #text or #cdata), maybe `:@`. */
type OrderedNode = Record<string, unknown>;

/**
 * The five XML entities and numeric character references; any other reference (HTML names,
 * entities a DTD declares) is an error rather than text passed through.
 */
function decodeEntities(raw: string): string {
  if (!raw.includes('&')) return raw;
  return raw.replace(/&([^;&<\s]{0,12});?/g, (whole, body: string) => {
    if (!whole.endsWith(';')) throw new SyntaxError(`'&' not starting an entity reference`);
    if (Object.hasOwn(PREDEFINED, body)) return PREDEFINED[body]!;
    const numeric = /^#(?:x([0-9A-Fa-f]{1,6})|([0-9]{1,7}))$/.exec(body);
    if (numeric) {
      const code = numeric[1] !== undefined ? parseInt(numeric[1], 16) : parseInt(numeric[2]!, 10);
      const valid = code > 0 && code <= 0x10ffff && !(code >= 0xd800 && code <= 0xdfff);
      if (!valid) throw new SyntaxError(`character reference ${whole} is not a valid character`);
      return String.fromCodePoint(code);
    }
    throw new SyntaxError(`unknown entity ${whole} (only the five XML entities are understood)`);
  });
}

function parserFor(maxDepth: number): XMLParser {
  return new XMLParser({
    preserveOrder: true,
    ignoreAttributes: false,
    attributeNamePrefix: '',
    // Text stays text: nvidia-smi's values carry units ("20475 MiB"), and "N/A" must not be guessed at.
    parseTagValue: false,
    parseAttributeValue: false,
    trimValues: false,
    ignoreDeclaration: true,
    ignorePiTags: true,
    cdataPropName: CDATA,
    // The library stops runaway nesting itself; the exact limit is checked while converting.
    maxNestedTags: maxDepth + 1,
    entityDecoder: {
      // DTD-declared and external entities are dropped, so they stay unknown and refused.
      setExternalEntities: () => {},
      addInputEntities: () => {},
      reset: () => {},
      setXmlVersion: () => {},
      decode: decodeEntities,
    },
  });
}

/** Reads a whole XML document and returns its root element. Malformed input: FleetError('invalid_argument'). */
export function readXml(source: string, options: XmlReadOptions = {}): XmlElement {
  const maxDepth = options.maxDepth ?? 128;
  const maxLength = options.maxLength ?? 64 * 1024 * 1024;
  if (typeof source !== 'string') throw new FleetError('invalid_argument', 'XML input is not a string');
  if (source.length > maxLength) {
    throw new FleetError('invalid_argument', `XML input is ${source.length} characters, more than the ${maxLength} allowed`);
  }
  const src = source.charCodeAt(0) === 0xfeff ? source.slice(1) : source;
  const malformed = (what: string, line?: number): never => {
    throw new FleetError('invalid_argument', `malformed XML${line !== undefined ? ` at line ${line}` : ''}: ${what}`);
  };

  const verdict = XMLValidator.validate(src);
  if (verdict !== true) malformed(validatorProblem(verdict.err.msg), verdict.err.line);
  // The validator and the parser both stop at the root's end tag; text after it would be lost
  // without a word, so a document must end with markup.
  if (!/>[ \t\r\n]*$/.test(src)) malformed('text after the root element');

  let nodes: OrderedNode[];
  try {
    nodes = parserFor(maxDepth).parse(src) as OrderedNode[];
  } catch (err) {
    const message = (err as Error).message;
    if (/maximum nested tags/i.test(message)) malformed(`elements nested deeper than ${maxDepth}`);
    return malformed(message.replace(/^\[SECURITY\] /, ''));
  }
  const roots = nodes.filter((n) => elementName(n) !== null);
  if (roots.length === 0) malformed('no root element');
  if (roots.length > 1) malformed('a second root element');
  return toElement(roots[0]!, maxDepth, malformed);
}

/**
 * The validator's message, with the common case said plainly: elements left open at the end
 * (`Unclosed tag 'a'.`, or a JSON list of them) is output cut short, named by its outermost one.
 */
function validatorProblem(message: string): string {
  if (/^Start tag expected/.test(message)) return 'no root element';
  let open = /^Unclosed tag '([^']+)'/.exec(message)?.[1];
  const list = /^Invalid '(\[.*\])' found/s.exec(message)?.[1];
  if (open === undefined && list !== undefined) {
    try {
      const names = JSON.parse(list) as unknown;
      if (Array.isArray(names) && typeof names[0] === 'string') open = names[0];
    } catch {
      // Not the list we know: the message is passed on as it is.
    }
  }
  return open !== undefined ? `input ended inside <${open}> (truncated?)` : message;
}

/** The tag name of an ordered node, or null for text and CDATA. */
function elementName(node: OrderedNode): string | null {
  for (const key of Object.keys(node)) if (key !== ATTRIBUTES && key !== TEXT && key !== CDATA) return key;
  return null;
}

/** Converts fast-xml-parser's ordered nodes into XmlElements, depth first, with an explicit stack. */
function toElement(rootNode: OrderedNode, maxDepth: number, malformed: (what: string) => never): XmlElement {
  const make = (node: OrderedNode, name: string): XmlElement => {
    const attributes = Object.create(null) as Record<string, string>;
    const given = node[ATTRIBUTES] as Record<string, unknown> | undefined;
    if (given) for (const [key, value] of Object.entries(given)) attributes[key] = String(value);
    return { name, attributes, children: [], text: '' };
  };
  const root = make(rootNode, elementName(rootNode)!);
  const work: Array<{ node: OrderedNode; element: XmlElement; depth: number }> = [{ node: rootNode, element: root, depth: 1 }];
  while (work.length > 0) {
    const { node, element, depth } = work.pop()!;
    if (depth > maxDepth) malformed(`elements nested deeper than ${maxDepth}`);
    const content = node[element.name] as OrderedNode[];
    for (const child of content) {
      if (TEXT in child) element.text += String(child[TEXT]);
      else if (CDATA in child) element.text += (child[CDATA] as OrderedNode[]).map((t) => String(t[TEXT] ?? '')).join('');
      else {
        const name = elementName(child);
        if (name === null) continue;
        const childElement = make(child, name);
        element.children.push(childElement);
        work.push({ node: child, element: childElement, depth: depth + 1 });
      }
    }
  }
  return root;
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
