import { Command } from 'commander';
import type { ReplicaList, ReplicaView } from '@gpufleet/protocol';
import type { CliDeps } from '../command-deps.js';
import { print, type Column } from '../output.js';
import { relativeTime } from '../units.js';

export function replicaColumns(now: number): Column<ReplicaView>[] {
  return [
    { header: 'NAME', get: (r) => (r.self ? `${r.name} *` : r.name) },
    { header: 'ADDRESS', get: (r) => r.url || '-' },
    { header: 'UP SINCE', get: (r) => relativeTime(r.startedAt, now) },
    { header: 'AGENTS', get: (r) => String(r.agents) },
    { header: 'LEASES', get: (r) => (r.leases.length > 0 ? r.leases.join(',') : '-') },
    { header: 'LAST HEARTBEAT', get: (r) => relativeTime(r.heartbeatAt, now) },
    { header: 'VERSION', get: (r) => r.version },
  ];
}

export function replicasCommand(deps: CliDeps): Command {
  const group = new Command('replicas').description('the control-plane replicas: which are alive, what each holds');
  group.addHelpText(
    'after',
    `
A control plane runs as one process (the default) or as several replicas sharing one
PostgreSQL store and one NATS (gpufleet server --store postgres://... --bus nats://...).
Every replica answers for the whole fleet; agents hold a session with one of them and move
on their own when it dies. Singleton work (alert notifications, event retention, pool
reconciling, workload scheduling) runs on the replica holding its lease.

Examples:
  gpufleet replicas ls
  gpufleet replicas ls -o json`,
  );
  group
    .command('ls')
    .alias('list')
    .description('list the live replicas: name, address, up since, agents held, leases held, last heartbeat')
    .addHelpText(
      'after',
      `
The replica that answered is marked with *. A replica drops out of the list three
heartbeats (about 6 s) after it stops renewing its entry.

Examples:
  gpufleet replicas ls
  gpufleet replicas ls -o yaml
  gpufleet replicas ls --server https://cp-2:7421     ask one replica in particular`,
    )
    .action(async (_opts, cmd: Command) => {
      const result = await deps.client(cmd).get<ReplicaList>('/api/v1/replicas');
      print(deps.io, deps.format(cmd), {
        data: result,
        columns: replicaColumns(deps.now()),
        rows: result.replicas,
        empty: 'no replicas (the server did not list itself)',
      });
    });
  return group;
}
