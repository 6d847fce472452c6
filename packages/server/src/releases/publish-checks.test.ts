import { describe, expect, it } from 'vitest';
import { targetEntries } from './publish-checks.js';
import { parseMetadata } from './tuf-metadata.js';

const SHA = 'c'.repeat(64);

function targets(entries: Record<string, Record<string, unknown>>) {
  const t = Object.fromEntries(Object.entries(entries).map(([path, custom]) => [path, { length: 10, hashes: { sha256: SHA }, custom }]));
  return parseMetadata('targets', {
    signed: { _type: 'targets', spec_version: '1.0.31', version: 3, expires: '2030-01-01T00:00:00Z', targets: t },
    signatures: [],
  });
}

describe('targetEntries: bundles next to agent builds', () => {
  it('lets a bundle through at its own path, with its name', () => {
    const entries = targetEntries(
      targets({
        'agent/gpufleet-agent-0.3.0.tgz': { kind: 'agent', version: '0.3.0' },
        'bundles/inference/inference-12.tar': { kind: 'bundle', name: 'inference', version: '12' },
      }),
    );
    expect(entries.map((e) => e.custom)).toEqual([
      { kind: 'agent', name: 'gpufleet-agent', version: '0.3.0' },
      { kind: 'bundle', name: 'inference', version: '12' },
    ]);
  });

  it('refuses a release at another release path, a bundle without a good name, and an agent under another name', () => {
    const cases: Array<[Record<string, Record<string, unknown>>, RegExp]> = [
      [
        { 'bundles/inference/inference-13.tar': { kind: 'bundle', name: 'inference', version: '12' } },
        /says it is bundle inference 12, which lives at bundles\/inference\/inference-12.tar/,
      ],
      [{ 'agent/gpufleet-agent-12.tgz': { kind: 'bundle', name: 'inference', version: '12' } }, /which lives at bundles\/inference\/inference-12.tar/],
      [{ 'bundles/x/x-1.tar': { kind: 'bundle', version: '1' } }, /has name ''/],
      [{ 'bundles/9x/9x-1.tar': { kind: 'bundle', name: '9x', version: '1' } }, /is a bundle named '9x'; a bundle name is lowercase letters/],
      [{ 'bundles/web/web-1.tar': { kind: 'agent', name: 'web', version: '1' } }, /is an agent release, so its name must be gpufleet-agent/],
      [{ 'bundles/web/web-1.tar': { kind: 'plugin', name: 'web', version: '1' } }, /needs custom.kind \(agent or bundle\)/],
      [
        {
          'bundles/web/web-1.tar': { kind: 'bundle', name: 'web', version: '1' },
          'bundles/web/web-1.tgz': { kind: 'bundle', name: 'web', version: '1' },
        },
        /which lives at bundles\/web\/web-1.tar|lists bundle web 1 twice/,
      ],
    ];
    for (const [entries, message] of cases) expect(() => targetEntries(targets(entries)), JSON.stringify(entries)).toThrow(message);
  });
});
