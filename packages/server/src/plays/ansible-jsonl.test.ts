import { describe, expect, it } from 'vitest';
import { MAX_MESSAGE, parseAnsibleLine } from './ansible-jsonl.js';

const line = (o: object) => JSON.stringify(o);

describe('ansible jsonl lines', () => {
  it('reads a play start, a task start and host results (changed, failed with stderr, unreachable, skipped, facts)', () => {
    expect(parseAnsibleLine(line({ _event: 'v2_playbook_on_play_start', play: { name: 'Collect' } })).events).toEqual([
      { kind: 'play', host: null, task: null, status: null, message: 'Collect' },
    ]);
    expect(parseAnsibleLine(line({ _event: 'v2_playbook_on_task_start', task: { name: 'Ping' }, hosts: {} })).events[0]).toMatchObject({
      kind: 'task',
      task: 'Ping',
    });
    const ok = parseAnsibleLine(
      line({
        _event: 'v2_runner_on_ok',
        task: { name: 'cmd' },
        hosts: { a: { changed: true, stdout: ' hi \n', action: 'command' }, b: { changed: false, msg: 'fine' } },
      }),
    );
    expect(ok.events).toEqual([
      { kind: 'host', host: 'a', task: 'cmd', status: 'changed', message: 'hi' },
      { kind: 'host', host: 'b', task: 'cmd', status: 'ok', message: 'fine' },
    ]);
    expect(
      parseAnsibleLine(line({ _event: 'v2_runner_on_failed', task: { name: 't' }, hosts: { a: { msg: 'non-zero return code', stderr: 'boom' } } })).events[0],
    ).toMatchObject({
      status: 'failed',
      message: 'non-zero return code: boom',
    });
    expect(
      parseAnsibleLine(line({ _event: 'v2_runner_on_unreachable', task: { name: 't' }, hosts: { a: { msg: 'Host key verification failed.' } } })).events[0],
    ).toMatchObject({
      status: 'unreachable',
      message: 'Host key verification failed.',
    });
    expect(
      parseAnsibleLine(line({ _event: 'v2_runner_on_skipped', task: { name: 't' }, hosts: { a: { skip_reason: 'Conditional result was False' } } })).events[0],
    ).toMatchObject({
      status: 'skipped',
      message: 'Conditional result was False',
    });
    expect(
      parseAnsibleLine(
        line({ _event: 'v2_runner_on_ok', task: { name: 'f' }, hosts: { a: { action: 'ansible.builtin.setup', ansible_facts: { huge: 'x'.repeat(9999) } } } }),
      ).events[0]!.message,
    ).toBe('facts gathered');
  });

  it('reads the recap into counts per host', () => {
    const parsed = parseAnsibleLine(
      line({ _event: 'v2_playbook_on_stats', stats: { a: { ok: 3, changed: 1, failures: 0, unreachable: 0, skipped: 2, rescued: 0, ignored: 0 } } }),
    );
    expect(parsed.recap).toEqual({ a: { ok: 3, changed: 1, failed: 0, unreachable: 0, skipped: 2 } });
    expect(parsed.events[0]).toMatchObject({ kind: 'recap', host: 'a', message: 'ok=3 changed=1 failed=0 unreachable=0 skipped=2' });
  });

  it('keeps other lines as output, cut when long; ignores blank lines', () => {
    expect(parseAnsibleLine('   ').events).toEqual([]);
    expect(parseAnsibleLine('[WARNING]: something').events).toEqual([
      { kind: 'output', host: null, task: null, status: null, message: '[WARNING]: something' },
    ]);
    expect(parseAnsibleLine('[1,2]').events[0]!.kind).toBe('output');
    const long = parseAnsibleLine('x'.repeat(MAX_MESSAGE + 50)).events[0]!.message;
    expect(long).toMatch(/… \(50 more characters\)$/);
    const huge = parseAnsibleLine(line({ _event: 'v2_runner_on_ok', task: { name: 'c' }, hosts: { a: { stdout: 'y'.repeat(10_000) } } })).events[0]!.message;
    expect(huge.length).toBeLessThan(MAX_MESSAGE + 50);
  });
});
