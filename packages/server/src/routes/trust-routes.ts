import { FleetError } from '@gpufleet/protocol';
import { z } from 'zod';
import type { App } from '../http/app.js';
import type { CapabilityRegistry } from '../trust/capability-registry.js';
import type { FleetRoots } from '../trust/fleet-roots.js';
import type { LabelAttestations, LabelNodes } from '../trust/label-attestations.js';
import { audited } from './request-audit.js';

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
const AttestationBody = z.strictObject({ attestation: z.unknown() });
const NodeDidParams = z.strictObject({ node: z.string().min(1).max(200) });

/** What the label attestation routes need: the attestations and the node registry's label side. */
export interface LabelAttestationRouteDeps {
  labels: LabelAttestations;
  nodes: LabelNodes;
}

/**
 * Signed label attestations: the operator's CLI signs a node's complete operator label set; the
 * server checks it as the host will, makes it the node's labels and pushes it to the host.
 */
export function registerLabelAttestationRoutes(app: App, deps: LabelAttestationRouteDeps): void {
  app.get(
    '/api/v1/label-attestations/:node',
    { config: { auth: 'viewer' }, schema: { tags: ['trust'], summary: "A node's latest signed label attestation (by node id)", params: NodeDidParams } },
    async (req) => {
      const found = deps.labels.current(req.params.node);
      if (found === undefined) throw new FleetError('not_found', `node ${req.params.node} has no label attestation`);
      return found;
    },
  );

  app.post(
    '/api/v1/label-attestations',
    {
      config: { auth: 'operator' },
      schema: { tags: ['trust'], summary: "Set a node's labels with a signed label attestation (the next version)", body: AttestationBody },
    },
    async (req, reply) => {
      const attestation = await audited(req, 'label.attest', null, (audit) => deps.labels.submit(req.body.attestation, audit, deps.nodes));
      return reply.status(201).send(attestation);
    },
  );
}

/**
 * Fleet roots, the capability and revocation registries, and the control plane's own DID.
 * Nothing here can make a host run anything: roots updates and revocations only count where
 * their signatures verify, and agents verify them again.
 */
export function registerTrustRoutes(app: App, deps: TrustRouteDeps): void {
  app.get(
    '/api/v1/roots',
    { config: { auth: 'viewer' }, schema: { tags: ['trust'], summary: 'The fleet roots, their version and every signed update' } },
    async () => deps.roots.fresh(),
  );

  app.post(
    '/api/v1/roots/init',
    { config: { auth: 'admin' }, schema: { tags: ['trust'], summary: 'Set the first fleet root (only while there is none)', body: InitRootsBody } },
    async (req, reply) => {
      const view = await audited(req, 'roots.init', req.body.did, (audit) => deps.roots.init(req.body.did, audit));
      return reply.status(201).send(view);
    },
  );

  app.post(
    '/api/v1/roots/update',
    { config: { auth: 'admin' }, schema: { tags: ['trust'], summary: 'Adopt a new root set signed by a current root', body: RootsUpdateBody } },
    async (req, reply) => {
      const view = await audited(req, 'roots.update', null, (audit) => deps.roots.update(req.body.update, audit));
      return reply.status(201).send(view);
    },
  );

  app.post(
    '/api/v1/capabilities',
    { config: { auth: 'operator' }, schema: { tags: ['trust'], summary: 'Register a signed capability for listing (it must verify)', body: CapabilityBody } },
    async (req, reply) => {
      const { view, created } = await audited(req, 'capability.register', null, (audit) => deps.capabilities.add(req.body.capability, audit));
      return reply.status(created ? 201 : 200).send(view);
    },
  );

  app.get(
    '/api/v1/capabilities',
    { config: { auth: 'viewer' }, schema: { tags: ['trust'], summary: 'Registered capabilities, oldest first', querystring: CapabilityQuery } },
    async (req) => ({
      items: await deps.capabilities.list(req.query.aud === undefined ? {} : { aud: req.query.aud }),
    }),
  );

  app.post(
    '/api/v1/revocations',
    {
      config: { auth: 'operator' },
      schema: { tags: ['trust'], summary: 'Add a signed revocation (a root, a key revoking itself, or the capability issuer)', body: RevocationBody },
    },
    async (req, reply) => {
      const { view, created } = await audited(req, 'revocation.add', null, (audit) => deps.capabilities.revoke(req.body.revocation, audit));
      return reply.status(created ? 201 : 200).send(view);
    },
  );

  app.get('/api/v1/revocations', { config: { auth: 'viewer' }, schema: { tags: ['trust'], summary: 'Accepted revocations, oldest first' } }, async () => ({
    items: await deps.capabilities.revocationViews(),
  }));

  app.get(
    '/api/v1/server-identity',
    { config: { auth: 'viewer' }, schema: { tags: ['trust'], summary: "The control plane's own DID, to delegate narrow abilities to" } },
    async () => ({
      did: deps.identity.did,
      keyStorage: deps.identity.storage,
    }),
  );
}
