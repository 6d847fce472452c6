/** The server's TLS material: a self-made CA (shared by the replicas through the store) and serving certificate, or operator-given files. */
export { ensureServerTls, type CaSharing, type EnsureServerTlsOptions } from './ensure-server-tls.js';
export { SHARED_CA_SECRET_ID } from './shared-ca.js';
export { certificateFingerprint, type ServerTls, type TlsNotice } from './tls-material.js';
