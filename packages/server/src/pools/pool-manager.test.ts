import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import { FleetError, parsePoolsFile } from '@gpufleet/protocol';
import { PoolHarness, simPools } from './__tests__/pool-harness.js';
import type { PoolManager } from './pool-manager.js';

let h: PoolHarness;
let m: PoolManager;

beforeEach(async () => {
  h = await PoolHarness.open();
  m = h.manager();
  await m.load();
});
afterEach(async () => {
  await m.stop();
  await h.close();
});

async function pass(times = 1): Promise<void> {
  await m.idle();
  for (let i = 0; i < times; i++) await m.reconcileAll();
}

describe('pool manager: apply and provision', () => {
  it('applies a pools file and provisions up to min_nodes; the nodes enroll with their pool label', async () => {
    const result = await m.apply(simPools('min_nodes: 2\nmax_nodes: 4\nlabels: { team: ml }'), '/srv', 'token:admin');
    expect(result).toEqual({ pools: [{ name: 'train', change: 'created' }], providers: [{ name: 'cloud', change: 'created' }] });
    await pass(2);
    expect(h.cloud.provisionCalls).toHaveLength(2);
    // Each provision got its own single-use token and the agent's first-boot script.
    expect(new Set(h.cloud.provisionCalls.map((c) => c.joinToken)).size).toBe(2);
    expect(h.cloud.provisionCalls[0]!.userData).toContain('gpufleet-agent');
    const [view] = await m.list();
    expect(view).toMatchObject({
      name: 'train',
      providerType: 'sim',
      ready: 2,
      current: 2,
      desired: 2,
      desiredSource: 'min',
      gpus: 16,
      costPerHour: 40,
      inFlight: 0,
    });
    const detail = await m.get('train');
    expect(detail.members.map((x) => x.state)).toEqual(['active', 'active']);
    for (const member of detail.members) expect(h.registry.labelsOf(member.nodeId!)).toMatchObject({ pool: 'train', team: 'ml' });
    expect(detail.operations.map((o) => [o.kind, o.stage])).toEqual([
      ['provision', 'done'],
      ['provision', 'done'],
    ]);
    const kinds = await h.eventKinds('train');
    expect(kinds.filter((k) => k === 'joined')).toHaveLength(2);
    expect(kinds[0]).toBe('applied');
    const started = (await m.events('train', {})).filter((e) => e.kind === 'provision-started').map((e) => e.message);
    expect(started).toEqual(Array(2).fill('provisioning sim.h100x8 (attempt 1): 0 of 2 nodes: below min_nodes 2'));
    // The same file again changes nothing and provisions nothing.
    expect((await m.apply(simPools('min_nodes: 2\nmax_nodes: 4\nlabels: { team: ml }'), '/srv', 'token:admin')).pools[0]!.change).toBe('unchanged');
    await pass(2);
    expect(h.cloud.provisionCalls).toHaveLength(2);
  });

  it('refuses a provider type this server lacks and a pool naming no provider of the file, storing nothing', async () => {
    const aws = parsePoolsFile(
      'providers:\n  ec2: { type: aws, region: us-east-1 }\npools:\n  gpu:\n    provider: ec2\n    instance_type: p5.48xlarge\n    min_nodes: 1\n    max_nodes: 2\n',
    );
    const err = await m.apply(aws, '/srv', 'token:admin').catch((e: unknown) => e);
    expect(FleetError.is(err, 'invalid_argument')).toBe(true);
    expect((err as Error).message).toMatch(/^providers\.ec2\.type: this server has no 'aws' provider \(it has: sim\)/);
    const config = simPools('min_nodes: 1\nmax_nodes: 2');
    const orphan = { ...config, pools: { train: { ...config.pools.train!, provider: 'gone' } } };
    await expect(m.apply(orphan, '/srv', 'token:admin')).rejects.toThrow(/^pools\.train\.provider: no provider 'gone' in this pools file \(defined: cloud\)/);
    // Garbage that never went through the file parser is refused field by field.
    const garbage = { providers: { cloud: { type: 'sim' } }, pools: { train: { ...config.pools.train!, minNodes: -1, zones: 'a' } } };
    await expect(m.apply(garbage as never, '/srv', 'token:admin')).rejects.toThrow(/^providers\.cloud\.instanceTypes: .*\(and \d+ more\)$/);
    await expect(m.apply(null as never, '/srv', 'token:admin')).rejects.toThrow(/^\(config\): /);
    expect(await h.store.listPoolConfigs()).toEqual([]);
    expect(await m.list()).toEqual([]);
    await expect(m.get('train')).rejects.toThrow(/no pool 'train' \(no pools file applied/);
  });

  it('scale sets desired within min..max and provisions to it; outside the range is refused with the range', async () => {
    await m.apply(simPools('min_nodes: 1\nmax_nodes: 3'), '/srv', 'token:admin');
    await pass(2);
    await expect(m.scale('train', 9, 'demo', 'token:admin')).rejects.toThrow(/to: 9 is outside pool train's range 1\.\.3/);
    await expect(m.scale('train', 2, '  ', 'token:admin')).rejects.toThrow(/^reason:/);
    await expect(m.scale('nope', 2, 'demo', 'token:admin')).rejects.toThrow(/no pool 'nope' \(pools: train\)/);
    const view = await m.scale('train', 3, 'demo tomorrow', 'token:admin');
    expect(view).toMatchObject({ desired: 3, desiredSource: 'manual' });
    await pass(2);
    expect((await m.get('train')).ready).toBe(3);
    expect((await m.get('train')).manualReason).toBe('demo tomorrow');
    const events = await m.events('train', {});
    expect(events.find((e) => e.kind === 'manual-scale')?.message).toBe('scaled to 3 by token:admin (was 1): demo tomorrow');
  });

  it('a full zone sends the provision to the next one', async () => {
    h.cloud.zonesFull.add('zone-a');
    await m.apply(simPools('min_nodes: 1\nmax_nodes: 2\nzones: [zone-a, zone-b]'), '/srv', 'token:admin');
    await pass(3);
    expect(h.cloud.provisionCalls.map((c) => c.zone)).toEqual(['zone-a', 'zone-b']);
    const detail = await m.get('train');
    expect(detail.members).toHaveLength(1);
    expect(detail.members[0]).toMatchObject({ zone: 'zone-b', state: 'active' });
    expect(detail.operations[0]).toMatchObject({ stage: 'done', zonesTried: ['zone-a', 'zone-b'] });
    const failed = (await m.events('train', {})).find((e) => e.kind === 'provision-failed');
    expect(failed?.message).toMatch(/^capacity in zone-a: InsufficientInstanceCapacity.*; trying zone-b$/);
  });

  it('new nodes spread over the zones: the least-loaded zone first, also for provisions started in one pass and after a scale', async () => {
    await m.apply(simPools('min_nodes: 4\nmax_nodes: 8\nzones: [zone-a, zone-b, zone-c]'), '/srv', 'token:admin');
    await pass(2);
    const zonesOf = async () => (await m.get('train')).members.map((x) => x.zone).sort();
    expect(await zonesOf()).toEqual(['zone-a', 'zone-a', 'zone-b', 'zone-c']);
    await m.scale('train', 6, 'more', 'token:admin');
    await pass(2);
    expect(await zonesOf()).toEqual(['zone-a', 'zone-a', 'zone-b', 'zone-b', 'zone-c', 'zone-c']);
  });

  it('an instance that never joins is terminated after join_timeout and counted as a failed provision', async () => {
    h.cloud.joinMode = 'never';
    await m.apply(simPools('min_nodes: 1\nmax_nodes: 1\nhealth: { join_timeout: 5m }'), '/srv', 'token:admin');
    await pass(1);
    const [instance] = h.cloud.running();
    expect((await m.get('train')).operations[0]).toMatchObject({ stage: 'joining', instanceId: instance!.id });
    h.clock.advance(4 * 60_000);
    await pass(1);
    expect(h.cloud.terminateCalls).toEqual([]);
    h.clock.advance(60_000);
    await pass(1);
    expect(h.cloud.terminateCalls).toEqual([instance!.id]);
    const failed = (await h.store.listPoolOperations({ pool: 'train', active: false }))[0];
    expect(failed).toMatchObject({ stage: 'failed', error: `instance ${instance!.id} did not join within 5m; terminated` });
    expect(await h.eventKinds('train')).toContain('provision-failed');
    // The single-use token of that provision is revoked: a late host cannot join with it.
    const token = (await h.store.listJoinTokens()).find((t) => t.id === failed!.joinTokenId);
    expect(token?.revokedAt).not.toBeNull();
    // The pool tries again with a new provision.
    await pass(1);
    expect(h.cloud.provisionCalls).toHaveLength(2);
  });

  it('transient errors retry after a backoff; an auth error fails the provision with the message', async () => {
    const { ProviderError } = await import('./providers/cloud-provider.js');
    h.cloud.failNext = [new ProviderError('transient', 'HTTP 503 Service Unavailable')];
    await m.apply(simPools('min_nodes: 1\nmax_nodes: 1'), '/srv', 'token:admin');
    await pass(1);
    expect(h.cloud.provisionCalls).toHaveLength(1);
    await pass(1);
    expect(h.cloud.provisionCalls).toHaveLength(1);
    h.clock.advance(5_000);
    await pass(2);
    expect(h.cloud.provisionCalls).toHaveLength(2);
    expect((await m.get('train')).ready).toBe(1);
    h.cloud.failNext = [new ProviderError('auth', 'the API key was refused')];
    await m.scale('train', 1, 'same', 'token:admin');
    const config = simPools('min_nodes: 2\nmax_nodes: 2');
    await m.apply(config, '/srv', 'token:admin');
    await pass(1);
    const failed = (await h.store.listPoolOperations({ pool: 'train', active: false })).find((o) => o.stage === 'failed');
    expect(failed?.error).toBe('auth: the API key was refused');
  });

  it('a member node an operator removes, or an instance ended at the provider, is replaced by a new provision', async () => {
    await m.apply(simPools('min_nodes: 2\nmax_nodes: 2'), '/srv', 'token:admin');
    await pass(2);
    const [first, second] = await h.store.listPoolMembers({ pool: 'train' });
    await h.registry.remove(first!.nodeId!, 'token:admin', 'bad disk');
    await pass(1);
    expect(h.cloud.terminateCalls).toEqual([first!.instanceId]);
    expect((await m.events('train', {})).find((e) => e.kind === 'terminated')?.message).toBe(
      `${h.registry.get(first!.nodeId!)!.hostname} was removed from the fleet; its instance ${first!.instanceId} is terminated`,
    );
    await pass(1);
    expect((await m.get('train')).ready).toBe(2);
    // A spot instance reclaimed: the provider lists it terminated (checked each minute).
    h.cloud.instances.get(second!.instanceId)!.state = 'terminated';
    h.clock.advance(60_000);
    await pass(2);
    expect(h.registry.get(second!.nodeId!)!.adminState).toBe('decommissioned');
    const alive = await h.store.listPoolMembers({ pool: 'train' });
    expect(alive.map((x) => x.instanceId)).not.toContain(second!.instanceId);
    expect((await m.get('train')).ready).toBe(2);
    expect(h.cloud.provisionCalls).toHaveLength(4);
  });

  it('provisions not sent yet are withdrawn when the desired size drops', async () => {
    const { ProviderError } = await import('./providers/cloud-provider.js');
    await m.apply(simPools('min_nodes: 1\nmax_nodes: 5'), '/srv', 'token:admin');
    await pass(2);
    h.cloud.failNext = Array.from({ length: 4 }, () => new ProviderError('transient', 'HTTP 503'));
    await m.scale('train', 5, 'batch', 'token:admin');
    await pass(1);
    expect(h.cloud.provisionCalls).toHaveLength(5);
    await m.scale('train', 1, 'batch cancelled', 'token:admin');
    await pass(1);
    const withdrawn = (await h.store.listPoolOperations({ pool: 'train', active: false })).filter((o) => o.error === 'not needed any more: desired is 1');
    expect(withdrawn).toHaveLength(4);
    expect((await m.events('train', {})).at(-1)?.message).toBe('withdrew 4 provisions not sent yet: desired is 1');
    h.clock.advance(60_000);
    await pass(2);
    expect(h.cloud.provisionCalls).toHaveLength(5);
    expect(await m.get('train')).toMatchObject({ ready: 1, current: 1, inFlight: 0 });
  });

  it('keeps a size sample per minute for the history, pruned after 24 h', async () => {
    await m.apply(simPools('min_nodes: 1\nmax_nodes: 2'), '/srv', 'token:admin');
    await pass(2);
    h.clock.advance(30_000);
    await pass(1);
    h.clock.advance(30_000);
    await pass(1);
    const history = (await m.get('train')).history;
    expect(history.map((x) => [x.ready, x.desired])).toEqual([
      [0, 1],
      [1, 1],
    ]);
    expect(Date.parse(history[1]!.at) - Date.parse(history[0]!.at)).toBe(60_000);
    h.clock.advance(25 * 3_600_000);
    await pass(1);
    expect((await m.get('train')).history).toHaveLength(1);
    expect(await h.store.listPoolSizeSamples('train', 0)).toHaveLength(1);
  });
});
