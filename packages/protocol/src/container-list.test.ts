import { describe, expect, it } from 'vitest';
import { hostSelector, parseListOutput, StreamByHost } from './container-list.js';
import { parseSelector } from './selector.js';

const line = (name: string, extra: Record<string, unknown> = {}) =>
  JSON.stringify({ id: `${name}-id`, name, image: `${name}:1`, state: 'running', status: 'Up 2 hours', created: 1_700_000_000_000, ...extra });

describe('parseListOutput', () => {
  it('reads one row per JSON line with the host it came from', () => {
    const r = parseListOutput('gpu-node-01', 'did:key:z1', `${line('vllm')}\n${line('caddy', { state: 'exited', status: 'Exited (0)' })}\n`);
    expect(r.bad).toBe(0);
    expect(r.rows).toEqual([
      {
        node: 'gpu-node-01',
        nodeId: 'did:key:z1',
        id: 'vllm-id',
        name: 'vllm',
        image: 'vllm:1',
        state: 'running',
        status: 'Up 2 hours',
        created: 1_700_000_000_000,
      },
      {
        node: 'gpu-node-01',
        nodeId: 'did:key:z1',
        id: 'caddy-id',
        name: 'caddy',
        image: 'caddy:1',
        state: 'exited',
        status: 'Exited (0)',
        created: 1_700_000_000_000,
      },
    ]);
  });

  it('counts lines that are not a container and keeps going; blank lines are nothing', () => {
    const r = parseListOutput('h', 'n', ['not json', 'null', '[]', '{"id":1,"name":"x"}', '{"name":"no id"}', '', '   ', line('ok'), '{"id":"half'].join('\n'));
    expect(r.rows.map((x) => x.name)).toEqual(['ok']);
    expect(r.bad).toBe(6);
  });

  it('fills fields of the wrong type with empty text and an unknown creation time with 0', () => {
    const r = parseListOutput('h', 'n', line('odd', { image: 5, state: null, status: ['x'], created: 'yesterday' }));
    expect(r.rows[0]).toMatchObject({ image: '', state: '', status: '', created: 0 });
  });
});

describe('StreamByHost', () => {
  it("puts each host's pieces of one stream back in chunk order, each chunk once", () => {
    const s = new StreamByHost('stdout');
    s.add({ nodeId: 'a', stream: 'stdout', chunk: 1, data: 'world\n' });
    s.add({ nodeId: 'a', stream: 'stdout', chunk: 0, data: 'hello ' });
    s.add({ nodeId: 'a', stream: 'stdout', chunk: 0, data: 'hello ' });
    s.add({ nodeId: 'a', stream: 'stderr', chunk: 0, data: 'warning\n' });
    s.add({ nodeId: 'b', stream: 'stdout', chunk: 0, data: 'other host\n' });
    expect(s.text('a')).toBe('hello world\n');
    expect(s.text('b')).toBe('other host\n');
    expect(s.text('nobody')).toBe('');
  });

  it('collects stderr when asked for it', () => {
    const s = new StreamByHost('stderr');
    s.add({ nodeId: 'a', stream: 'stdout', chunk: 0, data: 'out' });
    s.add({ nodeId: 'a', stream: 'stderr', chunk: 0, data: 'error: no container engine\n' });
    expect(s.text('a')).toBe('error: no container engine\n');
  });
});

describe('hostSelector', () => {
  it('names the host by its label-safe hostname, as a valid selector', () => {
    expect(hostSelector('gpu-node-07')).toBe('hostname=gpu-node-07');
    expect(hostSelector('My Host!')).toBe('hostname=My-Host');
    expect(() => parseSelector(hostSelector('h1.example.com'))).not.toThrow();
  });
});
