import { Command } from 'commander';
import { isNodeSort, NODE_SORT_HELP, NODE_SORT_KEYS, signLabelAttestation, type Capability, type NodeSort, type NodeView } from '@gpufleet/protocol';
import type { CliDeps } from '../command-deps.js';
import { ApiError, seg } from '../api-client.js';
import { readCapabilityFile } from '../exec/build-payload.js';
import { unlockOperatorKey, type KeyFlags } from '../keys/passphrase.js';
import { checkDuration, checkSelector, checkStatus, intOption, parseLabelEdits } from '../args.js';
import { UsageError } from '../errors.js';
import { print, termSafe, type Column } from '../output.js';
import { formatPct, formatTemp, relativeTime } from '../units.js';
import { avgGpuUtil, gpuSummary, labelText, maxGpuTemp, shortId } from '../views/node-facts.js';
import { renderNodeDetail } from '../views/node-detail.js';

interface NodeList {
  items: NodeView[];
  total: number;
}

/** `--sort` checked here, so a typo is a usage error before any request. */
function checkSort(text: string): NodeSort {
  if (!isNodeSort(text)) throw new UsageError(`--sort '${text}': ${NODE_SORT_HELP}`);
  return text;
}

/**
 * Signs the node's complete operator label set after the edits as its next label attestation,
 * and submits it; the server checks it as the host will and forwards it to the host.
 */
async function signedLabels(
  deps: CliDeps,
  cmd: Command,
  ref: string,
  edits: { set: Record<string, string>; remove: string[] },
  o: KeyFlags & { cap?: string },
): Promise<NodeView> {
  const client = deps.client(cmd);
  const cap: Capability | null = o.cap === undefined ? null : readCapabilityFile(o.cap, deps.io.cwd);
  const node = await client.get<NodeView>(`/api/v1/nodes/${seg(ref)}`);
  let held = 0;
  try {
    held = (await client.get<{ version: number }>(`/api/v1/label-attestations/${seg(node.id)}`)).version;
  } catch (err) {
    if (!(err instanceof ApiError && err.code === 'not_found')) throw err;
  }
  const labels: Record<string, string> = { ...node.userLabels, ...edits.set };
  for (const key of edits.remove) delete labels[key];
  const key = await unlockOperatorKey(deps.io, { key: o.key, passphraseEnv: o.passphraseEnv });
  const attestation = signLabelAttestation({ v: 1, node: node.id, labels, version: held + 1, issuedAt: deps.now(), iss: key.did, cap }, key.privateKeyPem);
  await client.post<unknown>('/api/v1/label-attestations', { attestation });
  return client.get<NodeView>(`/api/v1/nodes/${seg(node.id)}`);
}

/** Columns of `nodes ls` (LABELS and more with -o wide). */
export function nodeColumns(now: number): Column<NodeView>[] {
  return [
    { header: 'NAME', get: (n) => n.hostname },
    { header: 'ID', get: (n) => shortId(n.id) },
    { header: 'STATUS', get: (n) => n.status },
    { header: 'MODE', get: (n) => n.mode ?? 'agent' },
    { header: 'GPUS', get: (n) => gpuSummary(n.gpus) },
    { header: 'GPU UTIL', get: (n) => formatPct(avgGpuUtil(n)), align: 'right' },
    { header: 'TEMP', get: (n) => formatTemp(maxGpuTemp(n)), align: 'right' },
    { header: 'LAST SEEN', get: (n) => relativeTime(n.lastSeenAt, now) },
    { header: 'AGENT', get: (n) => `${n.agentVersion}${n.simulated ? ' (sim)' : ''}`, wide: true },
    { header: 'LABELS', get: (n) => labelText(n.labels), wide: true },
  ];
}

function said(deps: CliDeps, cmd: Command, node: NodeView, message: string): void {
  const format = deps.format(cmd);
  if (format === 'json' || format === 'yaml') print(deps.io, format, { data: node });
  // The message names the node by its host-reported hostname.
  else deps.io.out(`${termSafe(message)}\n`);
}

export function nodesCommand(deps: CliDeps): Command {
  const nodes = new Command('nodes').alias('node').description('list, inspect, label, cordon, drain and remove nodes (GPU hosts)');
  nodes.addHelpText(
    'after',
    `
A node is one host running gpufleet-agent. REF is a node id, a unique id prefix or a hostname.

Examples:
  gpufleet nodes ls                                  every node, one line each
  gpufleet nodes ls -l gpu.model=H100,region=eu      nodes with H100s in region eu
  gpufleet nodes ls --status OFFLINE -o wide         unreachable nodes, with labels
  gpufleet nodes get gpu-node-07                     facts, readings and GPUs of one node
  gpufleet nodes label gpu-node-07 rack=r12 team-    set rack, remove team
  gpufleet nodes cordon gpu-node-07 --reason "fan noise"
  gpufleet nodes drain gpu-node-07 --timeout 30m     no new work, wait for running work
  gpufleet nodes rm gpu-node-07 --yes                decommission: its key is revoked`,
  );

  nodes
    .command('ls')
    .alias('list')
    .description('list nodes')
    .option('-l, --selector <selector>', 'label selector, e.g. gpu.model=H100,region in (eu,us)')
    .option('--status <status>', 'only nodes in this status: PENDING, READY, OFFLINE, UNREACHABLE, CORDONED, DRAINING, DRAINED, UNHEALTHY, DECOMMISSIONED')
    .option('-q, --search <text>', 'hostname contains this text')
    .option('--limit <n>', 'at most this many nodes', intOption('--limit', 1, 10_000))
    .option('--sort <key>', `order by ${NODE_SORT_KEYS.join(', ')}; a leading - sorts descending (e.g. -temp)`, checkSort)
    .addHelpText(
      'after',
      `
Selectors use Kubernetes syntax: k=v, k!=v, k in (a,b), k notin (a,b), k, !k; a comma means AND.
Built-in labels: hostname, os, arch, gpu.vendor, gpu.model, gpu.product, gpu.count, gpu.memory, simulated.

Examples:
  gpufleet nodes ls -l 'gpu.vendor=amd'
  gpufleet nodes ls -l 'gpu.count in (4,8),!simulated' -o json
  gpufleet nodes ls --sort -temp --limit 10       the ten hottest nodes
  gpufleet nodes ls --sort=-util                   busiest first ('=' keeps - from reading as a flag)

Sorting by util, temp or power puts nodes without a reading last, whichever the direction.`,
    )
    .action(async (_opts, cmd: Command) => {
      const o = deps.opts<{ selector?: string; status?: string; search?: string; limit?: number; sort?: NodeSort }>(cmd);
      const query = { selector: checkSelector(o.selector), status: checkStatus(o.status), q: o.search, limit: o.limit, sort: o.sort };
      const list = await deps.client(cmd).get<NodeList>('/api/v1/nodes', query);
      print(deps.io, deps.format(cmd), {
        data: list,
        columns: nodeColumns(deps.now()),
        rows: list.items,
        empty: 'no nodes match (add one: gpufleet tokens create, then gpufleet-agent join <token> on the host)',
      });
      if (deps.format(cmd) !== 'json' && deps.format(cmd) !== 'yaml' && list.total > list.items.length) {
        deps.io.err(`showing ${list.items.length} of ${list.total} nodes: use --limit to see more\n`);
      }
    });

  nodes
    .command('get')
    .alias('describe')
    .description('show one node: facts, labels, readings and GPUs')
    .addHelpText(
      'after',
      `
Examples:
  gpufleet nodes get gpu-node-07
  gpufleet nodes get did:key:z6Mkw -o wide     (disks and network too)
  gpufleet nodes get gpu-node-07 -o json | jq '.gpus[].sample.temperatureC'`,
    )
    .argument('<ref>', 'node id, unique id prefix or hostname')
    .action(async (ref: string, _opts, cmd: Command) => {
      const node = await deps.client(cmd).get<NodeView>(`/api/v1/nodes/${seg(ref)}`);
      print(deps.io, deps.format(cmd), { data: node, text: (wide) => renderNodeDetail(node, { now: deps.now(), width: deps.io.columns, wide }) });
    });

  nodes
    .command('label')
    .description('set (key=value) or remove (key-) user labels')
    .argument('<ref>', 'node id, unique id prefix or hostname')
    .argument('<labels...>', 'key=value to set, key- to remove')
    .option('--key <name>', "sign the node's labels with this operator key, so its host can vouch for them in selectors")
    .option('--cap <file>', 'a capability granting node/labels to your key (not needed when your key is a fleet root)')
    .option('--passphrase-env <VAR>', 'variable holding the key passphrase (default GPUFLEET_KEY_PASSPHRASE)')
    .addHelpText(
      'after',
      `
Built-in labels (hostname, gpu.model, ...) come from the inventory and cannot be changed.

Hosts match command and capability selectors only against labels they can vouch for: built-in
ones, those of their join token, and labels signed with --key (a label attestation, which the
server forwards to the host). Unsigned labels are for listing and filtering on the server; once
a node's labels are signed, every change to them must be signed too.

Examples:
  gpufleet nodes label gpu-node-07 region=eu rack=r12 --key default
  gpufleet nodes label gpu-node-07 rack- --key alice --cap alice-labels.json
  gpufleet nodes label gpu-node-07 team=vision          (server-side only)`,
    )
    .action(async (ref: string, words: string[], _opts, cmd: Command) => {
      const edits = parseLabelEdits(words);
      const o = deps.opts<KeyFlags & { cap?: string }>(cmd);
      if (o.key !== undefined || o.cap !== undefined) {
        const node = await signedLabels(deps, cmd, ref, edits, o);
        said(deps, cmd, node, `node ${node.hostname} labeled (signed): ${labelText(node.userLabels)}`);
        return;
      }
      const body = { ...(Object.keys(edits.set).length ? { set: edits.set } : {}), ...(edits.remove.length ? { remove: edits.remove } : {}) };
      const node = await deps.client(cmd).patch<NodeView>(`/api/v1/nodes/${seg(ref)}/labels`, body);
      said(deps, cmd, node, `node ${node.hostname} labeled: ${labelText(node.userLabels)}`);
    });

  nodes
    .command('approve')
    .description('admit a PENDING node (joined with a token that needs approval)')
    .addHelpText(
      'after',
      `
Examples:
  gpufleet nodes ls --status PENDING
  gpufleet nodes approve gpu-node-07`,
    )
    .argument('<ref>', 'node id, unique id prefix or hostname')
    .action(async (ref: string, _opts, cmd: Command) => {
      const node = await deps.client(cmd).post<NodeView>(`/api/v1/nodes/${seg(ref)}/approve`);
      said(deps, cmd, node, `node ${node.hostname} approved: ${node.status}`);
    });

  nodes
    .command('cordon')
    .description('stop placing new work on a node (running work stays)')
    .addHelpText(
      'after',
      `
Examples:
  gpufleet nodes cordon gpu-node-07 --reason "XID 79, waiting for RMA"
  gpufleet nodes ls --status CORDONED`,
    )
    .argument('<ref>', 'node id, unique id prefix or hostname')
    .option('--reason <text>', 'why, kept with the node and in the audit log')
    .action(async (ref: string, _opts, cmd: Command) => {
      const { reason } = deps.opts<{ reason?: string }>(cmd);
      const node = await deps.client(cmd).post<NodeView>(`/api/v1/nodes/${seg(ref)}/cordon`, reason === undefined ? {} : { reason });
      said(deps, cmd, node, `node ${node.hostname} cordoned`);
    });

  nodes
    .command('uncordon')
    .description('allow new work on a cordoned node again')
    .addHelpText(
      'after',
      `
Examples:
  gpufleet nodes uncordon gpu-node-07`,
    )
    .argument('<ref>', 'node id, unique id prefix or hostname')
    .action(async (ref: string, _opts, cmd: Command) => {
      const node = await deps.client(cmd).post<NodeView>(`/api/v1/nodes/${seg(ref)}/uncordon`);
      said(deps, cmd, node, `node ${node.hostname} uncordoned: ${node.status}`);
    });

  nodes
    .command('drain')
    .description('stop new work on a node and wait for its running work to end: DRAINING, then DRAINED')
    .addHelpText(
      'after',
      `
The node is DRAINED once no work runs on it, or when the timeout passes (server default 10m).
\`gpufleet nodes uncordon\` cancels a drain or brings a drained node back.

Examples:
  gpufleet nodes drain gpu-node-07 --reason "kernel upgrade"
  gpufleet nodes drain gpu-node-07 --timeout 2h`,
    )
    .argument('<ref>', 'node id, unique id prefix or hostname')
    .option('--reason <text>', 'why, kept with the node and in the timeline')
    .option('--timeout <duration>', "how long to wait for running work, e.g. 30m (default: the server's, 10m)")
    .action(async (ref: string, _opts, cmd: Command) => {
      const o = deps.opts<{ reason?: string; timeout?: string }>(cmd);
      const body = {
        ...(o.reason === undefined ? {} : { reason: o.reason }),
        ...(o.timeout === undefined ? {} : { timeout: checkDuration(o.timeout, '--timeout') }),
      };
      const node = await deps.client(cmd).post<NodeView>(`/api/v1/nodes/${seg(ref)}/drain`, body);
      const until = node.statusChange?.drainDeadline ? ` (until ${node.statusChange.drainDeadline} at the latest)` : '';
      said(deps, cmd, node, `node ${node.hostname} ${node.status === 'DRAINED' ? 'drained: nothing was running' : `draining${until}`}`);
    });

  nodes
    .command('rm')
    .alias('remove')
    .description('decommission a node: revokes its key and closes its session')
    .argument('<ref>', 'node id, unique id prefix or hostname')
    .option('-y, --yes', 'do not ask for confirmation')
    .addHelpText(
      'after',
      `
The host keeps running; to bring it back, join it again with a new token.

Examples:
  gpufleet nodes rm gpu-node-07          asks first (on a terminal)
  gpufleet nodes rm did:key:z6Mk --yes   in scripts`,
    )
    .action(async (ref: string, _opts, cmd: Command) => {
      const { yes } = deps.opts<{ yes?: boolean }>(cmd);
      const client = deps.client(cmd);
      const node = await client.get<NodeView>(`/api/v1/nodes/${seg(ref)}`);
      if (!yes) {
        if (!deps.io.stdinIsTty) throw new UsageError(`removing node ${node.hostname} needs --yes when not run from a terminal`);
        const ok = await deps.io.confirm(`Remove node ${node.hostname} (${shortId(node.id)}, ${gpuSummary(node.gpus)})? Its key is revoked.`);
        if (!ok) {
          deps.io.err('nothing removed\n');
          return;
        }
      }
      // Remove by full id: the hostname or prefix could match another node by now.
      await client.delete(`/api/v1/nodes/${seg(node.id)}`);
      deps.io.out(`node ${termSafe(node.hostname)} removed (${node.id})\n`);
    });

  return nodes;
}
