import { describe, expect, it } from 'vitest';
import { SseParser, type SseEvent } from './sse-client.js';

function parseAll(chunks: string[]): SseEvent[] {
  const events: SseEvent[] = [];
  const p = new SseParser((e) => events.push(e));
  for (const c of chunks) p.push(c);
  return events;
}

describe('SseParser', () => {
  it('joins events split across chunks, at any byte', () => {
    const text = 'retry: 2000\n\n: keep-alive\n\nevent: output\ndata: {"a":1}\n\nevent: done\ndata: {}\n\n';
    const whole = parseAll([text]);
    expect(whole).toEqual([
      { event: 'output', data: '{"a":1}' },
      { event: 'done', data: '{}' },
    ]);
    for (let i = 1; i < text.length; i++) expect(parseAll([text.slice(0, i), text.slice(i)])).toEqual(whole);
  });

  it('takes CRLF and CR line ends, multi-line data, a missing space and an unnamed event', () => {
    expect(parseAll(['event:target\r\ndata: one\r\ndata:two\r\n\r\n', 'data: plain\r\r'])).toEqual([
      { event: 'target', data: 'one\ntwo' },
      { event: 'message', data: 'plain' },
    ]);
  });

  it('ignores comments, unknown fields and an event without data; keeps an unfinished event back', () => {
    expect(parseAll([': hi\nid: 7\nevent: lonely\n\nfoo: bar\nevent: late\ndata: x'])).toEqual([]);
  });
});
