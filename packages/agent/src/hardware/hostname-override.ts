import type { HardwareBackend } from './backend.js';

/** A name a host may report: what a DNS name may hold (letters, digits, `.`, `-`, `_`), 1-253 characters. */
export const HOSTNAME_OVERRIDE = /^[A-Za-z0-9](?:[A-Za-z0-9._-]{0,251}[A-Za-z0-9])?$/;

/**
 * The backend with the name the host reports replaced (`--hostname`, like kubelet's
 * --hostname-override): for containers and cloned VMs whose OS hostname is random or shared,
 * since the control plane names nodes by hostname and refuses a second host under one name.
 */
export function withHostname(backend: HardwareBackend, hostname: string): HardwareBackend {
  return {
    hostFacts: async () => ({ ...(await backend.hostFacts()), hostname }),
    hostSample: () => backend.hostSample(),
    gpus: () => backend.gpus(),
  };
}
