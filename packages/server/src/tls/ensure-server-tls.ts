import { mkdirSync } from 'node:fs';
import { join } from 'node:path';
import { FleetError } from '@gpufleet/protocol';
import { loadGivenTls } from './given-tls.js';
import { resolveServerNames } from './server-names.js';
import { ensureServing } from './serving-certificate.js';
import { resolveServerCa, type CaSharing } from './shared-ca.js';
import type { ServerTls } from './tls-material.js';

export type { ServerTls } from './tls-material.js';
export type { CaSharing } from './shared-ca.js';

/** Options of ensureServerTls. */
export interface EnsureServerTlsOptions {
  /** The server's data folder; the self-made material lives in `<dataDir>/tls/`. */
  dataDir: string;
  /** DNS names agents and users reach the server by (localhost is always added). */
  hostnames: string[];
  /** IP addresses agents and users reach the server by (127.0.0.1 and ::1 are always added). */
  ips: string[];
  /** Operator-given certificate chain (PEM, leaf first); with keyFile, replaces the self-made CA. */
  certFile?: string;
  keyFile?: string;
  /**
   * The store and master key through which replicas share one CA (sealed in the store). Absent:
   * the CA of the data dir alone (tools and tests that make material outside a server).
   */
  sharing?: CaSharing;
  /** Epoch ms; injected so tests control validity and expiry. */
  clock?: () => number;
}

/**
 * The TLS material the server listens with. With certFile/keyFile, those files (checked).
 * Otherwise a self-made CA (ECDSA P-256, 10 years), sealed in the store with the master key and
 * shared by every replica, or kept in `<dataDir>/tls/` without one (see resolveServerCa), and a
 * serving certificate of this server's own (ECDSA P-256, 1 year, every requested name) that the
 * CA signs, kept in `<dataDir>/tls/` and reused. The serving certificate is re-issued when it
 * expires within 30 days, lacks a requested name, or does not match its key or the CA, so the CA
 * fingerprint in join tokens never changes.
 */
export async function ensureServerTls(opts: EnsureServerTlsOptions): Promise<ServerTls> {
  const given = [opts.certFile, opts.keyFile].filter((f) => f !== undefined && f !== null && f !== '');
  if (given.length === 1) throw new FleetError('invalid_argument', 'a TLS certificate file and key file must be given together');
  if (given.length === 2) return loadGivenTls(opts.certFile!, opts.keyFile!);
  if (typeof opts.dataDir !== 'string' || opts.dataDir === '') throw new FleetError('invalid_argument', 'ensureServerTls needs a data folder');

  const now = (opts.clock ?? Date.now)();
  const names = resolveServerNames(opts.hostnames ?? [], opts.ips ?? []);
  const dir = join(opts.dataDir, 'tls');
  mkdirSync(dir, { recursive: true, mode: 0o700 });

  const { ca, keptIn, notices } = await resolveServerCa(dir, now, opts.sharing);
  const serving = await ensureServing(dir, ca, names, now);
  return { caPem: ca.pem, certPem: serving.certPem, keyPem: serving.keyPem, caFingerprint: ca.fingerprint, caKeptIn: keptIn, notices };
}
