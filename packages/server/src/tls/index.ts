/** The server's TLS material: a self-made CA and serving certificate, or operator-given files. */
export { ensureServerTls, type EnsureServerTlsOptions } from './ensure-server-tls.js';
export { certificateFingerprint, type ServerTls } from './tls-material.js';
