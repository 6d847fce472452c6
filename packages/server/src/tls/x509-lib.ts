/**
 * @peculiar/x509, for this package: import it from here, never directly, so the Reflect
 * metadata its tsyringe dependency demands at load time is in place first.
 */
import './reflect-metadata-shim.js';

export * from '@peculiar/x509';
