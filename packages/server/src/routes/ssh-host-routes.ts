import { AddSshHostRequest, ProbeSshHostRequest, TrustHostKeyRequest } from '@gpufleet/protocol';
import { z } from 'zod';
import type { App } from '../http/app.js';
import type { SshHostsService } from '../ssh-hosts/ssh-hosts-service.js';
import { audited } from './request-audit.js';

/** `{node}`: an id, id prefix or hostname, as the node routes take it. */
const NodeParams = z.strictObject({ node: z.string().min(1, 'node names the host (id, id prefix or hostname)').max(253) });

export interface SshHostRouteDeps {
  sshHosts: SshHostsService;
}

/**
 * SSH hosts over REST (issue 12, the route table in protocol/job-center.ts): probe a host's key,
 * add a host (admin: it stores a login), list and read hosts, trust a changed host key (admin),
 * collect facts now (operator), rotate every credential (admin). Secrets go in and never come out.
 */
export function registerSshHostRoutes(app: App, deps: SshHostRouteDeps): void {
  app.post(
    '/api/v1/ssh-hosts/probe',
    {
      config: { auth: 'admin' },
      schema: {
        tags: ['ssh-hosts'],
        summary: 'The host key a host presents (algorithm, SHA256 fingerprint), before anything is stored',
        body: ProbeSshHostRequest,
      },
    },
    async (req) => audited(req, 'ssh-hosts.probe', `${req.body.address}:${req.body.port}`, () => deps.sshHosts.probe(req.body)),
  );

  app.post(
    '/api/v1/ssh-hosts',
    {
      config: { auth: 'admin' },
      schema: {
        tags: ['ssh-hosts'],
        summary: 'Add a node managed over SSH: its login is sealed, its host key pinned, its facts collected; it joins the fleet as MODE ssh',
        body: AddSshHostRequest,
      },
    },
    async (req, reply) => {
      const result = await audited(req, 'ssh-hosts.add', req.body.hostname, (audit) => deps.sshHosts.add(req.body, audit));
      return reply.code(201).send(result);
    },
  );

  app.get(
    '/api/v1/ssh-hosts',
    { config: { auth: 'viewer' }, schema: { tags: ['ssh-hosts'], summary: 'Nodes managed over SSH: address, user, jump host, pinned key, contact state' } },
    async () => ({ items: await deps.sshHosts.list() }),
  );

  app.get(
    '/api/v1/ssh-hosts/:node',
    { config: { auth: 'viewer' }, schema: { tags: ['ssh-hosts'], summary: 'One node managed over SSH', params: NodeParams } },
    async (req) => deps.sshHosts.get(req.params.node),
  );

  app.post(
    '/api/v1/ssh-hosts/:node/trust-host-key',
    {
      config: { auth: 'admin' },
      schema: {
        tags: ['ssh-hosts'],
        summary: 'Accept the changed host key the host presented (only the refused fingerprint), then contact it again',
        params: NodeParams,
        body: TrustHostKeyRequest,
      },
    },
    async (req) => audited(req, 'ssh-hosts.trust-host-key', req.params.node, (audit) => deps.sshHosts.trustHostKey(req.params.node, req.body, audit)),
  );

  app.post(
    '/api/v1/ssh-hosts/:node/collect-facts',
    {
      config: { auth: 'operator' },
      schema: {
        tags: ['ssh-hosts'],
        summary: 'Collect the host facts and GPUs over SSH now; a failure shows as lastError and UNREACHABLE',
        params: NodeParams,
      },
    },
    async (req) =>
      audited(req, 'ssh-hosts.collect-facts', req.params.node, async (audit) => {
        const view = await deps.sshHosts.collectFacts(req.params.node);
        await audit.note({
          action: 'ssh-hosts.collect-facts',
          target: view.nodeId,
          result: 'ok',
          details: { hostname: view.hostname, reachable: view.reachable },
        });
        return view;
      }),
  );

  app.post(
    '/api/v1/credentials/rotate',
    {
      config: { auth: 'admin' },
      schema: {
        tags: ['ssh-hosts'],
        summary:
          "Seal every stored credential, and the control plane's records only the previous key opens, again under the current master key (GPUFLEET_MASTER_KEY)",
      },
    },
    async (req) => audited(req, 'credentials.rotate', null, (audit) => deps.sshHosts.rotateCredentials(audit)),
  );
}
