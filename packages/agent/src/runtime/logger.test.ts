import { describe, expect, it } from 'vitest';
import { createJsonLogger, withFields } from './logger.js';

describe('createJsonLogger', () => {
  it('writes one JSON object per line and drops records below the level', () => {
    const lines: string[] = [];
    const log = createJsonLogger({ level: 'warn', write: (l) => lines.push(l), now: () => 0 });
    log.debug('hidden');
    log.info('hidden too');
    log.warn('disk almost full', { mount: '/' });
    log.error('boom');
    expect(lines).toEqual([
      '{"ts":"1970-01-01T00:00:00.000Z","level":"warn","msg":"disk almost full","mount":"/"}\n',
      '{"ts":"1970-01-01T00:00:00.000Z","level":"error","msg":"boom"}\n',
    ]);
  });

  it('survives fields it cannot serialize', () => {
    const lines: string[] = [];
    const cyclic: Record<string, unknown> = {};
    cyclic.self = cyclic;
    createJsonLogger({ write: (l) => lines.push(l) }).info('odd', { cyclic, big: 1n });
    expect(JSON.parse(lines[0]!)).toMatchObject({ msg: 'odd', fieldsError: 'unserializable fields' });
  });

  it('withFields adds fields to every record', () => {
    const lines: string[] = [];
    const log = withFields(createJsonLogger({ write: (l) => lines.push(l) }), { host: 'sim-h100-001' });
    log.info('hi', { n: 1 });
    expect(JSON.parse(lines[0]!)).toMatchObject({ msg: 'hi', host: 'sim-h100-001', n: 1 });
  });
});
