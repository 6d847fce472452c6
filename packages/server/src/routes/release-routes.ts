import { z } from 'zod';
import { NewReleaseRootRequest, PublishReleaseRequest, PublishTeamReleaseRequest, ReleaseTeamsRequest, UploadReleaseKeysRequest } from '@gpufleet/protocol';
import type { App } from '../http/app.js';
import type { ReleaseRepository } from '../releases/release-repository.js';
import { audited } from './request-audit.js';

/**
 * A publish carries its new targets in the JSON body, base64: 256 MiB of body is about 190 MiB
 * of files, well above an agent build. Base64 in one JSON body keeps a publish one atomic request
 * (metadata and bytes accepted together or not at all) with no multipart parser to add.
 */
export const PUBLISH_BODY_LIMIT = 256 * 1024 * 1024;

/** Roots with many keys, and the online keys' PEM: small. */
const KEYS_BODY_LIMIT = 4 * 1024 * 1024;

export interface ReleaseRouteDeps {
  releases: ReleaseRepository;
  /** Default PUBLISH_BODY_LIMIT; tests lower it. */
  publishBodyLimit?: number;
}

const TeamParams = z.strictObject({ team: z.string().min(1).max(64) });

/**
 * Signed releases (issue 14): upload the root chain and the online keys, accept a new root,
 * publish (admin), and list (viewer); teams delegated from the targets role: change them
 * (admin, signed by the targets key), list them (viewer), and a team's publish (operator: the
 * team's key, checked against the delegation, is what authorizes its bundles). Each write is one
 * audit record under its domain action.
 */
export function registerReleaseRoutes(app: App, deps: ReleaseRouteDeps): void {
  app.get(
    '/api/v1/releases',
    { config: { auth: 'viewer' }, schema: { tags: ['releases'], summary: "Published releases, newest first, and each TUF role's newest version" } },
    async () => deps.releases.list(),
  );

  app.post(
    '/api/v1/releases/keys',
    {
      config: { auth: 'admin' },
      bodyLimit: KEYS_BODY_LIMIT,
      schema: {
        tags: ['releases'],
        summary: 'Upload the roots the server lacks and the snapshot and timestamp private keys (sealed with the master key)',
        body: UploadReleaseKeysRequest,
      },
    },
    async (req, reply) => {
      const view = await audited(req, 'release.keys', null, (audit) => deps.releases.uploadKeys(req.body, audit));
      reply.code(201);
      return view;
    },
  );

  app.post(
    '/api/v1/releases/root',
    {
      config: { auth: 'admin' },
      bodyLimit: KEYS_BODY_LIMIT,
      schema: {
        tags: ['releases'],
        summary: "The next root version, signed offline by a threshold of the current root's keys and of its own",
        body: NewReleaseRootRequest,
      },
    },
    async (req, reply) => {
      const view = await audited(req, 'release.root', null, (audit) => deps.releases.rotateRoot(req.body, audit));
      reply.code(201);
      return view;
    },
  );

  app.post(
    '/api/v1/releases/publish',
    {
      config: { auth: 'admin' },
      bodyLimit: deps.publishBodyLimit ?? PUBLISH_BODY_LIMIT,
      schema: {
        tags: ['releases'],
        summary: 'Publish: the next targets metadata signed by the targets key, with its new files (base64); the server signs snapshot and timestamp',
        body: PublishReleaseRequest,
      },
    },
    async (req, reply) => {
      const list = await audited(req, 'release.publish', null, (audit) => deps.releases.publish(req.body, audit));
      reply.code(201);
      return list;
    },
  );

  app.get(
    '/api/v1/releases/teams',
    {
      config: { auth: 'viewer' },
      schema: { tags: ['releases'], summary: 'The teams the targets role delegates bundles to: keys, threshold, paths, newest version' },
    },
    async () => deps.releases.teams(),
  );

  app.post(
    '/api/v1/releases/teams',
    {
      config: { auth: 'admin' },
      bodyLimit: KEYS_BODY_LIMIT,
      schema: {
        tags: ['releases'],
        summary: 'Add, change or remove teams: the next targets metadata, signed by the targets key, with the same targets and other delegations',
        body: ReleaseTeamsRequest,
      },
    },
    async (req, reply) => {
      const list = await audited(req, 'release.teams', null, (audit) => deps.releases.changeTeams(req.body, audit));
      reply.code(201);
      return list;
    },
  );

  app.post(
    '/api/v1/releases/teams/:team/publish',
    {
      config: { auth: 'operator' },
      bodyLimit: deps.publishBodyLimit ?? PUBLISH_BODY_LIMIT,
      schema: {
        tags: ['releases'],
        summary: "A team's publish: its next targets metadata signed by its key(s), with its new bundles (base64); the server signs snapshot and timestamp",
        params: TeamParams,
        body: PublishTeamReleaseRequest,
      },
    },
    async (req, reply) => {
      const list = await audited(req, 'release.team-publish', req.params.team, (audit) => deps.releases.publishTeam(req.params.team, req.body, audit));
      reply.code(201);
      return list;
    },
  );
}
