import { z } from 'zod';
import type { App } from '../http/app.js';
import type { CapabilityRegistry } from '../trust/capability-registry.js';
import type { FleetRoots } from '../trust/fleet-roots.js';
import { requestActor } from './request-actor.js';

/** What the trust routes need (a slice of the wired trust services). */
export interface TrustRouteDeps {
  roots: FleetRoots;
  capabilities: CapabilityRegistry;
  identity: { did: string; storage: 'sealed' | 'file' };
}

// Signed objects are checked by the services, which name the first problem in their message.
const InitRootsBody = z.strictObject({ did: z.string().min(1).max(200) });
const RootsUpdateBody = z.strictObject({ update: z.unknown() });
const CapabilityBody = z.strictObject({ capability: z.unknown() });
const RevocationBody = z.strictObject({ revocation: z.unknown() });
const CapabilityQuery = z.strictObject({ aud: z.string().min(1).max(200).optional() });

/**
 * Fleet roots, the capability and revocation registries, and the control plane's own DID.
 * Nothing here can make a host run anything: roots updates and revocations only count where
 * their signatures verify, and agents verify them again.
 */
export function registerTrustRoutes(app: App, deps: TrustRouteDeps): void {
  app.get('/api/v1/roots', { config: { auth: 'viewer' }, schema: { tags: ['trust'], summary: 'The fleet roots, their version and every signed update' } }, async () => deps.roots.fresh());

  app.post('/api/v1/roots/init', { config: { auth: 'admin' }, schema: { tags: ['trust'], summary: 'Set the first fleet root (only while there is none)', body: InitRootsBody } }, async (req, reply) => {
    return reply.status(201).send(await deps.roots.init(req.body.did, requestActor(req)));
  });

  app.post('/api/v1/roots/update', { config: { auth: 'admin' }, schema: { tags: ['trust'], summary: 'Adopt a new root set signed by a current root', body: RootsUpdateBody } }, async (req, reply) => {
    return reply.status(201).send(await deps.roots.update(req.body.update, requestActor(req)));
  });

  app.post('/api/v1/capabilities', { config: { auth: 'operator' }, schema: { tags: ['trust'], summary: 'Register a signed capability for listing (it must verify)', body: CapabilityBody } }, async (req, reply) => {
    const { view, created } = await deps.capabilities.add(req.body.capability, requestActor(req));
    return reply.status(created ? 201 : 200).send(view);
  });

  app.get('/api/v1/capabilities', { config: { auth: 'viewer' }, schema: { tags: ['trust'], summary: 'Registered capabilities, oldest first', querystring: CapabilityQuery } }, async (req) => ({
    items: await deps.capabilities.list(req.query.aud === undefined ? {} : { aud: req.query.aud }),
  }));

  app.post('/api/v1/revocations', { config: { auth: 'operator' }, schema: { tags: ['trust'], summary: 'Add a signed revocation (a root, a key revoking itself, or the capability issuer)', body: RevocationBody } }, async (req, reply) => {
    const { view, created } = await deps.capabilities.revoke(req.body.revocation, requestActor(req));
    return reply.status(created ? 201 : 200).send(view);
  });

  app.get('/api/v1/revocations', { config: { auth: 'viewer' }, schema: { tags: ['trust'], summary: 'Accepted revocations, oldest first' } }, async () => ({ items: await deps.capabilities.revocationViews() }));

  app.get('/api/v1/server-identity', { config: { auth: 'viewer' }, schema: { tags: ['trust'], summary: "The control plane's own DID, to delegate narrow abilities to" } }, async () => ({
    did: deps.identity.did,
    keyStorage: deps.identity.storage,
  }));
}
