/**
 * @peculiar/x509, for this package: import it from here, never directly, so the Reflect
 * metadata polyfill its tsyringe dependency demands at load time is in place first.
 */
import 'reflect-metadata';

export * from '@peculiar/x509';
