import { FleetError } from '@gpufleet/protocol';
import { describe, expect, it } from 'vitest';
import { nodePatchToRow, nodeToRow, rowToAgentEvent, rowToAudit, rowToNode } from './row-mappers.js';
import { sampleEvent, sampleNode } from './__tests__/store-fixtures.js';

const ID = 'did:key:z6MkMapper';

/** Row mapping edge cases the contract suite cannot reach through a healthy database. */
describe('row mappers', () => {
  it('round-trips a node through its row', () => {
    expect(rowToNode(nodeToRow(sampleNode(ID)))).toEqual(sampleNode(ID));
  });

  it('reads int8 values handed over as strings (pg without a type parser) as numbers', () => {
    const row = { ...nodeToRow(sampleNode(ID)), enrolled_at: '1760000000000', last_seen_at: '17', acked_seq: '5', simulated: '1' };
    const node = rowToNode(row as never);
    expect(node.enrolledAt).toBe(1_760_000_000_000);
    expect(node.lastSeenAt).toBe(17);
    expect(node.ackedSeq).toBe(5);
    expect(node.simulated).toBe(true);
  });

  it('reports corrupt JSON in a row as an internal FleetError naming table, column and row', () => {
    const row = { ...nodeToRow(sampleNode(ID)), facts: '{"hostname": ' };
    const err = (() => {
      try {
        rowToNode(row);
      } catch (e) {
        return e;
      }
    })();
    expect(FleetError.is(err, 'internal')).toBe(true);
    expect((err as Error).message).toContain(`nodes.facts of ${ID}`);
    expect(() =>
      rowToAudit({ id: 1, at: 1, actor: 'a', action: 'b', target: null, result: 'ok', details: null as never, hash: null, prev_hash: null }),
    ).toThrow(/audit_log\.details of 1 holds no JSON/);
    const ev = { ...sampleEvent(ID, 3), node_id: ID, gpu_uuid: null, pci_bus_id: null, received_at: 1, data: 'nope' };
    expect(() => rowToAgentEvent(ev as never)).toThrow(/agent_events\.data of .*#3 holds corrupt JSON/);
  });

  it('a patch maps only its present keys', () => {
    expect(nodePatchToRow({ hostname: 'h', cordonReason: null, lastSeenAt: undefined })).toEqual({ hostname: 'h', cordon_reason: null });
    expect(nodePatchToRow({})).toEqual({});
  });

  it('a patch refuses inherited and prototype keys', () => {
    const patch = JSON.parse('{"__proto__": {"hostname": "x"}, "toString": "y"}');
    expect(() => nodePatchToRow(patch)).toThrow(FleetError);
  });
});
