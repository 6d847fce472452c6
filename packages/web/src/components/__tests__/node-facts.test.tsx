// @vitest-environment jsdom
import { afterEach, describe, expect, it } from 'vitest';
import { cleanup, render, screen } from '@testing-library/react';
import { NodeView } from '@gpufleet/protocol';
import { Facts, StaleNote } from '../node-facts.js';
import { nodeViewFixture } from '../../testing/node-fixture.js';

afterEach(cleanup);

const GiB = 1024 ** 3;
const TiB = 1024 ** 4;
const host = {
  cpuPct: 12,
  load1: 1.5,
  load5: 1,
  load15: 1,
  memoryUsedBytes: 100 * GiB,
  memoryTotalBytes: 512 * GiB,
  disks: [
    { mount: '/', usedBytes: 40 * GiB, totalBytes: 400 * GiB },
    { mount: '/data', usedBytes: 1.5 * TiB, totalBytes: 3 * TiB },
  ],
  net: [],
};

function show(over: Partial<NodeView>) {
  const n = NodeView.parse(nodeViewFixture('did:key:z6MkFACTS', 'gpu-facts', over));
  return render(
    <>
      <StaleNote n={n} />
      <Facts n={n} />
    </>,
  );
}

describe('node facts', () => {
  it('shows memory and disks with their units and the share used', () => {
    show({ host });
    expect(screen.getByTestId('node-memory').textContent).toBe('100 GiB of 512 GiB (20%)');
    expect(screen.getByTestId('node-disks').textContent).toBe('/ 40 GiB of 400 GiB (10%) · /data 1.5 TiB of 3 TiB (50%)');
    expect(screen.getByTestId('node-memory').className).not.toContain('stale');
    expect(screen.queryByTestId('node-stale-note')).toBeNull();
  });

  it('falls back to the inventory with units when the node sends no readings', () => {
    show({
      host: null,
      facts: {
        ...nodeViewFixture('x', 'gpu-facts').facts,
        memoryTotalBytes: 2 * TiB,
        disks: [{ mount: '/', device: '/dev/nvme0n1p1', fsType: 'ext4', usedBytes: 0, totalBytes: 900 * GiB }],
      } as NodeView['facts'],
    });
    expect(screen.getByTestId('node-memory').textContent).toBe('2 TiB total');
    expect(screen.getByTestId('node-disks').textContent).toBe('/ 0 B of 900 GiB (0%)');
  });

  it("dims an offline node's readings and says when it was last seen", () => {
    const lastSeenAt = new Date(Date.now() - 7 * 60_000).toISOString();
    show({ host, status: 'OFFLINE', connected: false, lastSeenAt });
    expect(screen.getByTestId('node-memory').className).toBe('stale');
    expect(screen.getByTestId('node-disks').className).toBe('stale');
    const note = screen.getByTestId('node-stale-note').textContent!;
    expect(note).toMatch(/^Offline: last seen 7 min ago\. The readings on this page are from then, not live\.$/);
  });

  it('has nothing stale to say about a PENDING node that never connected', () => {
    show({ status: 'PENDING', connected: false, host: null });
    expect(screen.queryByTestId('node-stale-note')).toBeNull();
  });
});
