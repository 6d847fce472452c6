import type { SshHostView } from '@gpufleet/protocol';
import type { Column } from '../output.js';
import { relativeTime } from '../units.js';
import { shortId } from './node-facts.js';

/** How SSH hosts look to people: `ssh-hosts ls` rows and `ssh-hosts get` detail. */

export function reachText(h: SshHostView): string {
  if (h.refusedHostKey) return 'no: host key changed';
  if (h.lastContactAt === null) return 'never';
  return h.reachable ? 'yes' : 'no';
}

/** `ssh-hosts ls`: fits 100 columns for hostnames up to 12 characters; the fingerprint and error with -o wide. */
export function sshHostColumns(now: number): Column<SshHostView>[] {
  return [
    { header: 'NAME', get: (h) => h.hostname },
    { header: 'ADDRESS', get: (h) => `${h.address}:${h.port}` },
    { header: 'USER', get: (h) => h.user },
    { header: 'BASTION', get: (h) => h.bastion ?? '-' },
    { header: 'REACHABLE', get: reachText },
    { header: 'LAST CONTACT', get: (h) => relativeTime(h.lastContactAt, now) },
    { header: 'ID', get: (h) => shortId(h.nodeId), wide: true },
    { header: 'HOST KEY', get: (h) => h.hostKey?.fingerprint ?? '-', wide: true },
    { header: 'LAST ERROR', get: (h) => h.lastError ?? '-', wide: true },
  ];
}

export function renderSshHost(h: SshHostView, now: number): string {
  const lines = [
    `Name:          ${h.hostname}`,
    `Node:          ${h.nodeId}`,
    `Address:       ${h.user}@${h.address}:${h.port} (login: ${h.loginKind})`,
    `Bastion:       ${h.bastion ?? '-'}`,
    `Host key:      ${h.hostKey ? `${h.hostKey.algorithm} ${h.hostKey.fingerprint} (${h.hostKey.source}, pinned ${relativeTime(h.hostKey.pinnedAt, now)})` : '-'}`,
    `Reachable:     ${reachText(h)}`,
    `Last contact:  ${relativeTime(h.lastContactAt, now)}`,
    `Facts:         ${relativeTime(h.factsAt, now)}`,
    `Credentials:   sealed under master key version ${h.credentialKeyVersion}`,
  ];
  if (h.refusedHostKey)
    lines.push(`Refused key:   ${h.refusedHostKey.algorithm} ${h.refusedHostKey.fingerprint} (seen ${relativeTime(h.refusedHostKey.seenAt, now)})`);
  if (h.lastError) lines.push(`Last error:    ${h.lastError}`);
  return `${lines.join('\n')}\n`;
}
