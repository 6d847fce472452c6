import { createPrivateKey, X509Certificate, type KeyObject } from 'node:crypto';
import { readFileSync } from 'node:fs';
import { FleetError } from '@gpufleet/protocol';
import { certificateFingerprint, pemCertificateBlocks, type ServerTls } from './tls-material.js';

function readText(path: string, what: string): Buffer {
  try {
    return readFileSync(path);
  } catch (err) {
    throw new FleetError('invalid_argument', `cannot read the TLS ${what} file ${path}: ${(err as Error).message}`, { cause: err });
  }
}

/**
 * Loads an operator-given certificate chain and key. The chain's last certificate is taken as
 * the CA that clients pin (a chain of one is its own CA: a self-signed or directly trusted
 * certificate). Unreadable, unparseable or mismatched files are a clear invalid_argument.
 */
export function loadGivenTls(certFile: string, keyFile: string): ServerTls {
  const certBytes = readText(certFile, 'certificate');
  const keyBytes = readText(keyFile, 'key');

  let blocks = pemCertificateBlocks(certBytes.toString('utf8'));
  let chain: X509Certificate[];
  try {
    if (blocks.length === 0) {
      // No PEM armour: accept a single DER certificate, served back as PEM.
      const der = new X509Certificate(certBytes);
      blocks = [der.toString()];
      chain = [der];
    } else {
      chain = blocks.map((block) => new X509Certificate(block));
    }
  } catch (err) {
    throw new FleetError('invalid_argument', `the TLS certificate file ${certFile} holds no parseable certificate: ${(err as Error).message}`, { cause: err });
  }

  let key: KeyObject;
  try {
    key = createPrivateKey(keyBytes);
  } catch (err) {
    throw new FleetError('invalid_argument', `the TLS key file ${keyFile} holds no parseable, unencrypted private key: ${(err as Error).message}`, {
      cause: err,
    });
  }
  if (!chain[0]!.checkPrivateKey(key)) {
    throw new FleetError('invalid_argument', `the TLS key in ${keyFile} does not belong to the first certificate in ${certFile}`);
  }

  const ca = chain[chain.length - 1]!;
  return {
    caPem: blocks[blocks.length - 1]!,
    certPem: blocks.join(''),
    keyPem: key.export({ type: 'pkcs8', format: 'pem' }).toString(),
    caFingerprint: certificateFingerprint(ca),
    caKeptIn: 'given',
    notices: [],
  };
}
