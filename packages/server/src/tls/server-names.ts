import { isIP } from 'node:net';
import { FleetError } from '@gpufleet/protocol';
import { ipBytes } from './ip-bytes.js';

/** The names a serving certificate must carry, normalized and de-duplicated. */
export interface ServerNames {
  /** Lower-case DNS names without a trailing dot. */
  dns: string[];
  /** IP literals as given (compared by their bytes, see ipKey). */
  ips: string[];
}

/** Always present so local clients (CLI on the server host) can connect. */
const ALWAYS_DNS = ['localhost'];
const ALWAYS_IPS = ['127.0.0.1', '::1'];

const LABEL = /^(?!-)[a-z0-9_-]{1,63}(?<!-)$/;

/** A comparable key for an IP literal: its address bytes in hex. */
export function ipKey(ip: string): string | null {
  return ipBytes(ip)?.toString('hex') ?? null;
}

function validDnsName(name: string): boolean {
  if (name.length === 0 || name.length > 253) return false;
  const labels = name.split('.');
  // A leading "*" label is a wildcard name (*.example.com), allowed in the left-most label only.
  const first = labels[0] === '*' && labels.length > 2 ? 1 : 0;
  return labels.slice(first).every((label) => LABEL.test(label));
}

/**
 * Checks and normalizes the names to certify. An IP literal given among the hostnames is
 * moved to the IPs (a common config slip); anything else invalid is an invalid_argument.
 */
export function resolveServerNames(hostnames: readonly string[], ips: readonly string[]): ServerNames {
  const dns = new Map<string, string>();
  const addrs = new Map<string, string>();
  const addIp = (raw: string): void => {
    const text = raw.trim().replace(/^\[(.*)\]$/, '$1');
    const key = isIP(text) ? ipKey(text) : null;
    if (key === null) throw new FleetError('invalid_argument', `not an IP address for the TLS certificate: ${JSON.stringify(raw)}`);
    if (!addrs.has(key)) addrs.set(key, text);
  };
  for (const raw of [...ALWAYS_DNS, ...hostnames]) {
    if (typeof raw !== 'string') throw new FleetError('invalid_argument', 'TLS hostnames must be strings');
    const trimmed = raw.trim().replace(/^\[(.*)\]$/, '$1');
    if (isIP(trimmed)) {
      addIp(trimmed);
      continue;
    }
    const name = trimmed.toLowerCase().replace(/\.$/, '');
    if (!validDnsName(name)) throw new FleetError('invalid_argument', `not a valid DNS name for the TLS certificate: ${JSON.stringify(raw)}`);
    dns.set(name, name);
  }
  for (const raw of [...ALWAYS_IPS, ...ips]) {
    if (typeof raw !== 'string') throw new FleetError('invalid_argument', 'TLS IP addresses must be strings');
    addIp(raw);
  }
  return { dns: [...dns.values()], ips: [...addrs.values()] };
}

/**
 * The DNS names and IP keys a certificate carries, from node's `subjectAltName` text
 * (`DNS:localhost, IP Address:127.0.0.1, ...`).
 */
export function certifiedNames(subjectAltName: string | undefined): { dns: Set<string>; ips: Set<string> } {
  const dns = new Set<string>();
  const ips = new Set<string>();
  for (const entry of (subjectAltName ?? '').split(', ')) {
    if (entry.startsWith('DNS:')) dns.add(entry.slice(4).toLowerCase());
    else if (entry.startsWith('IP Address:')) {
      const key = ipKey(entry.slice('IP Address:'.length));
      if (key) ips.add(key);
    }
  }
  return { dns, ips };
}
