import { LabelMap, readYamlFile, type ReportIssues, type YamlFileFormat } from '@gpufleet/protocol';
import { z } from 'zod';

/**
 * `gpufleet nodes add --ssh-inventory FILE`: many SSH hosts at once, from our own file
 *
 *   hosts:
 *     - { name: gpu-07, address: 10.0.0.7, port: 22, user: root, key_file: ~/.ssh/id_ed25519, labels: { rack: a } }
 *
 * or an Ansible-style YAML inventory (`all: { hosts: {...}, vars: {...}, children: {...} }`, with
 * ansible_host, ansible_port, ansible_user, ansible_ssh_private_key_file; group vars apply to their
 * hosts, a host's own win). An Ansible inventory's groups come along: each child group becomes a
 * gpufleet group of its hosts (nested groups' hosts included, as Ansible counts them), with its
 * own variables other than the ansible_* connection ones. Problems are reported by file:line:col
 * and field, like job and pools files.
 */

export interface InventoryHost {
  name: string;
  address: string;
  port: number | null;
  user: string | null;
  keyFile: string | null;
  labels: Record<string, string>;
}

/** A group of an Ansible inventory: its hosts (its children's too) and its own non-connection variables. */
export interface InventoryGroup {
  name: string;
  hosts: string[];
  vars: Record<string, unknown>;
}

export interface SshInventory {
  hosts: InventoryHost[];
  groups: InventoryGroup[];
}

/** Ansible's own groups, which every host is in already. */
const IMPLICIT_GROUPS = new Set(['all', 'ungrouped']);
const GROUP_NAME = /^[A-Za-z_][A-Za-z0-9_-]{0,63}$/;

const Name = z
  .string()
  .min(1)
  .max(253)
  .regex(/^[A-Za-z0-9][A-Za-z0-9._-]*$/, 'a hostname: letters, digits, dot, dash, underscore');
const Port = z.number({ error: 'a port number' }).int('a whole port number').min(1, 'a port from 1 to 65535').max(65535, 'a port from 1 to 65535');
const Text = z.string().min(1).max(4096);

const OwnHost = z.strictObject({
  name: Name,
  address: Text.max(253),
  port: Port.optional(),
  user: Text.max(64).optional(),
  key_file: Text.optional(),
  labels: LabelMap.optional(),
});
const OwnFile = z.strictObject({ hosts: z.array(OwnHost).min(1, 'list at least one host').max(10_000) });

/** Host variables Ansible people write; anything else a play may use is left alone. */
const AnsibleVars = z
  .looseObject({
    ansible_host: Text.max(253).optional(),
    ansible_port: Port.optional(),
    ansible_user: Text.max(64).optional(),
    ansible_ssh_private_key_file: Text.optional(),
  })
  .nullable();
type AnsibleVars = z.infer<typeof AnsibleVars>;
interface AnsibleGroup {
  hosts?: Record<string, AnsibleVars> | null;
  vars?: AnsibleVars;
  children?: Record<string, AnsibleGroup | null> | null;
}
const AnsibleGroup: z.ZodType<AnsibleGroup> = z.lazy(() =>
  z.strictObject({
    hosts: z.record(Name, AnsibleVars).nullable().optional(),
    vars: AnsibleVars.optional(),
    children: z.record(z.string().min(1), AnsibleGroup.nullable()).nullable().optional(),
  }),
);
const AnsibleFile = z.strictObject({ all: AnsibleGroup });

const FORMAT: YamlFileFormat = {
  noun: 'SSH inventory',
  topFields: 'hosts, or all for an Ansible inventory',
  maxBytes: 1_048_576,
  schema: z.union([OwnFile, AnsibleFile]),
  misnames: { host: 'address', hostname: 'name', key: 'key_file', identity_file: 'key_file' },
};

export function parseSshInventory(text: string, file: string): SshInventory {
  return readYamlFile(FORMAT, text, file, (data, report): SshInventory => {
    if (data !== null && typeof data === 'object' && 'all' in data) return ansibleInventory(data, report);
    const read = OwnFile.safeParse(data);
    if (!read.success) return report(read.error.issues);
    const seen = new Set<string>();
    const hosts = read.data.hosts.map((h, i) => {
      if (seen.has(h.name)) report([{ code: 'custom', path: ['hosts', i, 'name'], message: `'${h.name}' is listed twice`, input: h.name }]);
      seen.add(h.name);
      return { name: h.name, address: h.address, port: h.port ?? null, user: h.user ?? null, keyFile: h.key_file ?? null, labels: h.labels ?? {} };
    });
    return { hosts, groups: [] };
  });
}

function ansibleInventory(data: unknown, report: ReportIssues): SshInventory {
  const read = AnsibleFile.safeParse(data);
  if (!read.success) return report(read.error.issues);
  const merged = new Map<string, NonNullable<AnsibleVars>>();
  const groups = new Map<string, InventoryGroup>();
  // Returns the hosts under `group` (its children's included) so each named group lists them all.
  const walk = (name: string, group: AnsibleGroup | null, inherited: NonNullable<AnsibleVars>, path: (string | number)[]): string[] => {
    if (group === null) return [];
    const vars = { ...inherited, ...(group.vars ?? {}) };
    const under = new Set<string>();
    for (const [host, own] of Object.entries(group.hosts ?? {})) {
      merged.set(host, { ...vars, ...(merged.get(host) ?? {}), ...(own ?? {}) });
      under.add(host);
    }
    for (const [childName, child] of Object.entries(group.children ?? {})) {
      for (const h of walk(childName, child, vars, [...path, 'children', childName])) under.add(h);
    }
    if (!IMPLICIT_GROUPS.has(name)) {
      if (!GROUP_NAME.test(name))
        report([{ code: 'custom', path, message: `'${name}' cannot be a group name: a letter or _, then letters, digits, _ or - (64 at most)`, input: name }]);
      const own = Object.fromEntries(Object.entries(group.vars ?? {}).filter(([k]) => !k.startsWith('ansible_')));
      const seen = groups.get(name);
      groups.set(name, { name, hosts: [...new Set([...(seen?.hosts ?? []), ...under])], vars: { ...(seen?.vars ?? {}), ...own } });
    }
    return [...under];
  };
  walk('all', read.data.all, {}, ['all']);
  if (merged.size === 0) return report([{ code: 'custom', path: ['all'], message: 'the inventory lists no hosts', input: undefined }]);
  const hosts = [...merged].map(([name, v]) => ({
    name,
    address: v.ansible_host ?? name,
    port: v.ansible_port ?? null,
    user: v.ansible_user ?? null,
    keyFile: v.ansible_ssh_private_key_file ?? null,
    labels: {},
  }));
  return { hosts, groups: [...groups.values()].filter((g) => g.hosts.length > 0) };
}
