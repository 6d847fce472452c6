import { describe, expect, it } from 'vitest';
import { FleetError } from '@gpufleet/protocol';
import { readFixture } from '../../testing/fixtures.js';
import { readXml, xmlChild, xmlChildren, xmlText } from './xml-reader.js';

function expectInvalid(fn: () => unknown, message: RegExp): void {
  try {
    fn();
  } catch (err) {
    expect(FleetError.is(err, 'invalid_argument')).toBe(true);
    expect((err as Error).message).toMatch(message);
    return;
  }
  throw new Error('expected FleetError invalid_argument, nothing was thrown');
}

describe('readXml (fast-xml-parser)', () => {
  it('reads elements, attributes, text and self-closing tags', () => {
    const root = readXml('<a x="1" y=\'two\'><b>hello</b><c/><b> again </b></a>');
    expect(root.name).toBe('a');
    expect(root.attributes).toEqual({ x: '1', y: 'two' });
    expect(root.children.map((c) => c.name)).toEqual(['b', 'c', 'b']);
    expect(xmlChildren(root, 'b').map((b) => b.text)).toEqual(['hello', ' again ']);
    expect(xmlChild(root, 'c')?.children).toEqual([]);
    expect(xmlText(root, 'b')).toBe('hello');
    expect(xmlText(root, 'missing', 'deeper')).toBeUndefined();
  });

  it('decodes the five entities and numeric references in text and attributes', () => {
    const root = readXml('<a t="&lt;&quot;&amp;&apos;&gt;">&lt;x&gt; &amp; &#65;&#x42;&#x1F600;</a>');
    expect(root.attributes.t).toBe('<"&\'>');
    expect(root.text).toBe('<x> & AB\u{1F600}');
  });

  it('skips the declaration, comments, processing instructions and a DOCTYPE with an internal subset', () => {
    const root = readXml(
      '\ufeff<?xml version="1.0" ?>\n<!DOCTYPE log SYSTEM "x.dtd" [ <!ENTITY boom "bang"> <!ELEMENT log ANY> ]>\n' +
        '<!-- before --><log><!-- inside <b> --><?pi stuff?><v>1</v></log>\n<!-- after -->\n',
    );
    expect(root.name).toBe('log');
    expect(root.children.map((c) => c.name)).toEqual(['v']);
  });

  it('keeps CDATA text verbatim', () => {
    expect(readXml('<a><![CDATA[<not> &amp; a tag]]></a>').text).toBe('<not> &amp; a tag');
  });

  it('never expands entities declared in the DTD', () => {
    const bomb = '<!DOCTYPE a [<!ENTITY x "xxxxxxxxxx"><!ENTITY y "&x;&x;&x;">]><a>&y;</a>';
    expectInvalid(() => readXml(bomb), /unknown entity &y;/);
  });

  it('refuses element and attribute names that could touch an object prototype', () => {
    expectInvalid(() => readXml('<a __proto__="p"/>'), /"__proto__" is a reserved/);
    expectInvalid(() => readXml('<a constructor="c"/>'), /"constructor" is a reserved/);
    expectInvalid(() => readXml('<a><__proto__/></a>'), /"__proto__" is a reserved/);
    expect(({} as Record<string, unknown>).p).toBeUndefined();
    // The attributes object has no prototype, so a lookup of an absent name finds nothing.
    expect(readXml('<a x="1"/>').attributes.toString).toBeUndefined();
  });

  it('refuses malformed documents with the line of the problem', () => {
    expectInvalid(() => readXml(''), /no root element/);
    expectInvalid(() => readXml('   \n '), /no root element/);
    expectInvalid(() => readXml('hello <a/>'), /line 1: char 'h' is not expected/);
    expectInvalid(() => readXml('<a/>trailing'), /text after the root element/);
    expectInvalid(() => readXml('<a/><b/>'), /a second root element/);
    expectInvalid(() => readXml('<a>\n<b>\n</a>'), /line 3: Expected closing tag 'b' .* instead of closing tag 'a'/);
    expectInvalid(() => readXml('<a><b></b>'), /input ended inside <a> \(truncated\?\)/);
    expectInvalid(() => readXml('<a></a></a>'), /Closing tag 'a' has not been opened/);
    expectInvalid(() => readXml('<a>&nbsp;</a>'), /unknown entity &nbsp;/);
    expectInvalid(() => readXml('<a t="&bogus;"/>'), /unknown entity &bogus;/);
    expectInvalid(() => readXml('<a>fish & chips</a>'), /char '&' is not expected/);
    expectInvalid(() => readXml('<a>&#0;</a>'), /not a valid character/);
    expectInvalid(() => readXml('<a>&#xD800;</a>'), /not a valid character/);
    expectInvalid(() => readXml('<a x=1/>'), /Attribute 'x' is without value/);
    expectInvalid(() => readXml('<a x="1" x="2"/>'), /Attribute 'x' is repeated/);
    expectInvalid(() => readXml('<a x="1"y="2"/>'), /Attribute 'y' has no space/);
    expectInvalid(() => readXml('<a x="1'), /open quote/);
    expectInvalid(() => readXml('<a'), /input ended inside <a>/);
    expectInvalid(() => readXml('<a><!-- never closed'), /input ended inside <a>/);
    expectInvalid(() => readXml('<a><![CDATA[ open'), /input ended inside <a>/);
    expectInvalid(() => readXml('<!DOCTYPE a [ <!ENTITY x "y">'), /no root element/);
    expectInvalid(() => readXml('< a/>'), /Invalid space after '<'/);
  });

  it('refuses nesting beyond the depth limit without overflowing the stack', () => {
    const deep = '<a>'.repeat(200_000) + '</a>'.repeat(200_000);
    expectInvalid(() => readXml(deep), /nested deeper than 128/);
    expect(readXml('<a><a><a/></a></a>', { maxDepth: 3 }).name).toBe('a');
    expectInvalid(() => readXml('<a><a><a><a/></a></a></a>', { maxDepth: 2 }), /nested deeper than 2/);
  });

  it('refuses input longer than the limit', () => {
    expectInvalid(() => readXml('<a>0123456789</a>', { maxLength: 10 }), /more than the 10 allowed/);
  });

  it('refuses binary junk', () => {
    const junk = String.fromCharCode(...Array.from({ length: 256 }, (_, i) => (i * 37) % 256));
    expectInvalid(() => readXml(junk), /malformed XML/);
  });

  it('reads the recorded nvidia-smi -q -x document', () => {
    const root = readXml(readFixture('nvidia', 'nvidia-smi_-q_-x__RTX4000-SFF-Ada_v13_telegraf.xml'));
    expect(root.name).toBe('nvidia_smi_log');
    const gpus = xmlChildren(root, 'gpu');
    expect(gpus).toHaveLength(1);
    expect(gpus[0]!.attributes.id).toBe('00000000:06:00.0');
    expect(xmlText(gpus[0]!, 'fb_memory_usage', 'total')).toBe('20475 MiB');
    expect(xmlChildren(xmlChild(gpus[0]!, 'processes')!, 'process_info')).toHaveLength(4);
  });
});
