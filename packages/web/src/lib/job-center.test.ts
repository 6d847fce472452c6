import { describe, expect, it } from 'vitest';
import { parse as parseYaml } from 'yaml';
import { playEventFixture, playFixture, playHostFixture, SSH_NODE_A } from '../testing/job-center-fixture.js';
import { mergePlayEvents, parsePort, parseUserAtHost, parseVarsText, parseYamlScalar, playHostCounts, shellWord, varInput } from './job-center.js';

describe('values typed after name=', () => {
  it('read as the yaml library reads a YAML 1.2 scalar (what the CLI uses)', () => {
    for (const text of [
      '550',
      '-3',
      '+7',
      '0x1F',
      '0o17',
      '1.5',
      '.5',
      '1e3',
      'true',
      'False',
      'NULL',
      '~',
      'hello',
      'gpu-07',
      '"550"',
      "'it''s'",
      '535.104.05',
      'yes',
      'on',
    ]) {
      const ours = parseYamlScalar(text);
      expect(ours, text).toEqual({ ok: true, value: parseYaml(text) });
    }
    expect(parseYamlScalar('')).toEqual({ ok: true, value: null });
  });

  it('takes lists and maps as JSON, and refuses what JSON cannot carry or unclosed quotes', () => {
    expect(parseYamlScalar('[1, "a"]')).toEqual({ ok: true, value: [1, 'a'] });
    expect(parseYamlScalar('{"a": {"b": true}}')).toEqual({ ok: true, value: { a: { b: true } } });
    expect(parseYamlScalar('[1,')).toMatchObject({ ok: false, error: expect.stringContaining('not a JSON list or map') });
    expect(parseYamlScalar('.inf')).toMatchObject({ ok: false });
    expect(parseYamlScalar('"open')).toMatchObject({ ok: false, error: expect.stringContaining('quoted') });
    expect(parseYamlScalar("'a'b'")).toMatchObject({ ok: false });
    expect(parseYamlScalar('9'.repeat(400))).toMatchObject({ ok: false, error: expect.stringContaining('too large') });
  });

  it('a value shown for editing reads back as itself', () => {
    for (const v of ['550', 'hello', 'true', ' padded', 550, true, null, [1, 'x'], { a: 1 }, '']) {
      expect(parseYamlScalar(varInput(v)), JSON.stringify(v)).toEqual({ ok: true, value: v });
    }
  });
});

describe('name=value lines', () => {
  it('reads one variable a line, skipping blanks and # comments', () => {
    expect(parseVarsText('nvidia_driver_version=550\n\n# a comment\ninstall_cuda = false\nlabel="550"\n')).toEqual({
      ok: true,
      vars: { nvidia_driver_version: 550, install_cuda: false, label: '550' },
    });
  });

  it('names the line or variable at fault', () => {
    expect(parseVarsText('just words')).toEqual({ ok: false, error: '"just words" is not name=value' });
    expect(parseVarsText('=5')).toMatchObject({ ok: false });
    expect(parseVarsText('1bad=5')).toMatchObject({ ok: false, error: expect.stringContaining('"1bad" is not a variable name') });
    expect(parseVarsText('a-b=5')).toMatchObject({ ok: false });
    expect(parseVarsText('a=1\na=2')).toEqual({ ok: false, error: 'a is given twice' });
    expect(parseVarsText('x="open')).toMatchObject({ ok: false, error: expect.stringMatching(/^x: /) });
  });
});

describe('SSH form checks', () => {
  it('a port is a whole number 1..65535', () => {
    expect(parsePort('22')).toEqual({ ok: true, port: 22 });
    expect(parsePort(' 2222 ')).toEqual({ ok: true, port: 2222 });
    for (const bad of ['', '0', '65536', '22.5', '-1', 'ssh', '1e3', '999999']) expect(parsePort(bad).ok, bad).toBe(false);
    expect(parsePort('abc')).toEqual({ ok: false, error: 'Port: "abc" is not a port number (1-65535)' });
  });

  it('a bastion is user@host with an optional port', () => {
    expect(parseUserAtHost('jump@10.0.0.1')).toEqual({ ok: true, user: 'jump', address: '10.0.0.1', port: 22 });
    expect(parseUserAtHost('jump@bastion.lab:2200')).toEqual({ ok: true, user: 'jump', address: 'bastion.lab', port: 2200 });
    expect(parseUserAtHost('bastion.lab')).toMatchObject({ ok: false });
    expect(parseUserAtHost('a@b:99999')).toMatchObject({ ok: false, error: expect.stringContaining('Bastion Port') });
  });

  it('quotes shell words only when they need it', () => {
    expect(shellWord('root@10.0.0.7')).toBe('root@10.0.0.7');
    expect(shellWord('a b')).toBe("'a b'");
    expect(shellWord("it's")).toBe(`'it'\\''s'`);
  });
});

describe('play helpers', () => {
  it('merges log lines once each, in order, keeping the last ones', () => {
    const a = [playEventFixture(1), playEventFixture(2)];
    const merged = mergePlayEvents(a, [playEventFixture(2, { message: 'again' }), playEventFixture(4), playEventFixture(3)]);
    expect(merged.map((e) => e.seq)).toEqual([1, 2, 3, 4]);
    expect(mergePlayEvents(merged, [playEventFixture(5)], 3).map((e) => e.seq)).toEqual([3, 4, 5]);
  });

  it('counts hosts ok and failed (unreachable counts as failed)', () => {
    const p = playFixture('p', {
      hosts: [
        playHostFixture('a', SSH_NODE_A, { state: 'ok' }),
        playHostFixture('b', SSH_NODE_A, { state: 'failed' }),
        playHostFixture('c', SSH_NODE_A, { state: 'unreachable' }),
        playHostFixture('d', SSH_NODE_A, { state: 'running' }),
      ],
    });
    expect(playHostCounts(p)).toEqual({ ok: 1, failed: 2, total: 4 });
  });
});
