import { FleetError } from '@gpufleet/protocol';
import { describe, expect, it } from 'vitest';
import { checkKey, checkName, checkPattern, checkSubject, subjectMatches } from './bus-names.js';
import { buckets, consumers, idToken, kvKeys, nodeIdOf, subjects, tokenId } from './subjects.js';

const DID = 'did:key:z6MkhaXgBZDvotDkL5257faiztiGiC2QtKLGpbnnEGta2doK';

describe('idToken', () => {
  it('keeps plain ids and encodes every other byte as =XX, reversibly', () => {
    expect(idToken('node-1_a')).toBe('node-1_a');
    expect(idToken(DID)).toBe('did=3Akey=3Az6MkhaXgBZDvotDkL5257faiztiGiC2QtKLGpbnnEGta2doK');
    expect(idToken('a.b*c>d e=f')).toBe('a=2Eb=2Ac=3Ed=20e=3Df');
    expect(idToken('gpü')).toBe('gp=C3=BC');
    for (const id of [DID, 'a.b', '=3A', 'x=', 'gpü', '🙂', 'a/b\\c']) expect(tokenId(idToken(id))).toBe(id);
  });

  it('never collides: an id that looks encoded is encoded again', () => {
    expect(idToken('did=3Akey')).not.toBe(idToken('did:key'));
  });

  it('refuses empty and overlong ids and tokens that are not its own', () => {
    for (const bad of ['', 'x'.repeat(129), 7 as unknown as string]) {
      expect(() => idToken(bad)).toThrow(FleetError);
    }
    for (const bad of ['', 'a.b', 'a=3', 'a=zz', 'a:b']) expect(() => tokenId(bad)).toThrow(FleetError);
  });
});

describe('subjects', () => {
  it('builds subjects, keys and consumer names the bus accepts, from did:key node ids', () => {
    const built = [subjects.nodeSession(DID), subjects.nodeEvent(DID), subjects.runDelivery(DID), subjects.healthFact(DID)];
    for (const s of built) expect(checkSubject(s)).toBe(s);
    for (const p of [subjects.allNodeSessions, subjects.allNodeEvents, subjects.allRunDeliveries, subjects.allHealthFacts]) {
      expect(checkPattern(p)).toBe(p);
    }
    expect(checkKey(kvKeys.sessionOwner(DID))).toBe(kvKeys.sessionOwner(DID));
    expect(checkName('consumer name', consumers.runDelivery(DID))).toBe(consumers.runDelivery(DID));
    expect(checkName('consumer name', consumers.healthFacts)).toBe('health-facts');
    expect(checkSubject(subjects.metricBatches)).toBe('metrics.batch');
    expect(checkName('bucket', buckets.sessionOwners)).toBe('session-owners');
  });

  it('wildcards select each kind of subject and no other', () => {
    const subjectsOf = (id: string) => ({
      session: subjects.nodeSession(id),
      event: subjects.nodeEvent(id),
      health: subjects.nodeHealth(id),
      delivery: subjects.runDelivery(id),
      fact: subjects.healthFact(id),
    });
    const all = Object.values(subjectsOf(DID));
    const matching = (pattern: string) => all.filter((s) => subjectMatches(pattern, s));
    expect(matching(subjects.allNodeSessions)).toEqual([subjects.nodeSession(DID)]);
    expect(matching(subjects.allNodeEvents)).toEqual([subjects.nodeEvent(DID)]);
    expect(matching(subjects.allNodeHealth)).toEqual([subjects.nodeHealth(DID)]);
    expect(matching(subjects.allRunDeliveries)).toEqual([subjects.runDelivery(DID)]);
    expect(matching(subjects.allHealthFacts)).toEqual([subjects.healthFact(DID)]);
  });

  it('nodeIdOf reads the node id back from any node subject', () => {
    for (const s of [subjects.nodeSession(DID), subjects.nodeHealth(DID), subjects.runDelivery(DID), subjects.healthFact(DID)]) {
      expect(nodeIdOf(s)).toBe(DID);
    }
    expect(() => nodeIdOf('other.x')).toThrow(FleetError);
    expect(() => nodeIdOf('node')).toThrow(FleetError);
  });
});

describe('subjectMatches', () => {
  it('follows NATS wildcard rules', () => {
    const cases: Array<[string, string, boolean]> = [
      ['a.b', 'a.b', true],
      ['a.b', 'a.c', false],
      ['a.*', 'a.b', true],
      ['a.*', 'a.b.c', false],
      ['a.*', 'a', false],
      ['*.b', 'a.b', true],
      ['a.>', 'a.b', true],
      ['a.>', 'a.b.c', true],
      ['a.>', 'a', false],
      ['>', 'a', true],
      ['*.*.c', 'a.b.c', true],
      ['a.b.c', 'a.b', false],
    ];
    for (const [pattern, subject, expected] of cases) expect(subjectMatches(pattern, subject), `${pattern} ~ ${subject}`).toBe(expected);
  });
});
