import { randomBytes } from 'node:crypto';
import { chmodSync, renameSync, writeFileSync } from 'node:fs';

/** The files of the self-made material in `<dataDir>/tls/`. */
export const TLS_FILES = { ca: 'ca.pem', caKey: 'ca-key.pem', server: 'server.pem', serverKey: 'server-key.pem' } as const;

/** Writes through a temporary file and a rename so a crash never leaves half a file. */
export function writeAtomic(path: string, text: string, mode: number): void {
  const tmp = `${path}.${process.pid}.${randomBytes(4).toString('hex')}.tmp`;
  writeFileSync(tmp, text, { mode });
  // writeFileSync's mode is filtered by the umask; set it outright.
  chmodSync(tmp, mode);
  renameSync(tmp, path);
}

/** A private key or other secret: 0600. */
export function writeSecret(path: string, text: string): void {
  writeAtomic(path, text, 0o600);
}
