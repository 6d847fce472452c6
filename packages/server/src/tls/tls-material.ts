import { createHash, type X509Certificate } from 'node:crypto';

/** What the HTTPS listener serves and what join tokens pin. */
export interface ServerTls {
  /** The CA that clients trust (the self-made CA, or the last certificate of a given chain). */
  caPem: string;
  /** The serving certificate chain, leaf first. */
  certPem: string;
  /** The serving certificate's private key (PEM). */
  keyPem: string;
  /** SHA-256 of the CA certificate's DER, lower-case hex without separators. */
  caFingerprint: string;
  /** Where the CA's key is: sealed in the store (shared by the replicas), in the data dir, or not ours (given files). */
  caKeptIn: 'store' | 'data-dir' | 'given';
  /** What the start found and did that an operator should read; logged once a logger exists (after the listener). */
  notices: TlsNotice[];
}

/** A line for the server log about the TLS material. */
export interface TlsNotice {
  level: 'info' | 'warn';
  msg: string;
  data: Record<string, unknown>;
}

/** SHA-256 of a certificate's DER bytes as lower-case hex (the form join tokens carry). */
export function certificateFingerprint(cert: X509Certificate): string {
  return createHash('sha256').update(cert.raw).digest('hex');
}

const PEM_CERT = /-----BEGIN CERTIFICATE-----[\s\S]*?-----END CERTIFICATE-----/g;

/** The PEM certificate blocks of a text, in order (each ending with a newline). */
export function pemCertificateBlocks(text: string): string[] {
  return (text.match(PEM_CERT) ?? []).map((block) => `${block}\n`);
}
