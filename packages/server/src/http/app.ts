import Fastify, { LogController, type FastifyInstance, type FastifyRequest, type FastifyServerOptions } from 'fastify';
import websocket from '@fastify/websocket';
import swagger from '@fastify/swagger';
import {
  hasZodFastifySchemaValidationErrors,
  jsonSchemaTransform,
  serializerCompiler,
  validatorCompiler,
  type ZodTypeProvider,
} from 'fastify-type-provider-zod';
import { FleetError, type Role } from '@gpufleet/protocol';
import type { ServerContext } from '../context.js';
import { roleAllows, type Principal } from '../auth/api-tokens.js';
import { mapError } from './error-mapping.js';
import { finishOpenApiDocument } from './openapi-document.js';
import { OperationIds } from './operation-ids.js';

declare module 'fastify' {
  interface FastifyRequest {
    principal: Principal | null;
    /** What the route adds to this request's one audit record (see the audit hook below). */
    auditNote: AuditNote | null;
  }
  interface FastifyContextConfig {
    /** Who may call the route; routes that say nothing need an admin. */
    auth?: Role | 'public';
    /** A Server-Sent Events stream: the only kind of route that takes `?access_token=`. */
    sse?: boolean;
  }
}

// biome-ignore lint/suspicious/noExplicitAny: Fastify's server, request, reply and logger generics vary with the https option; the app is the same to every route
export type App = FastifyInstance<any, any, any, any, ZodTypeProvider>;

/** A route's additions to its request's audit record (the hook writes the one record). */
export interface AuditNote {
  /** The domain action, e.g. `run.submit` (default: `METHOD /route/:param`). */
  action?: string;
  /** The target (default: the route's :ref or :id). */
  target?: string | null;
  details?: Record<string, unknown>;
}

const MUTATING = new Set(['POST', 'PUT', 'PATCH', 'DELETE']);

/**
 * The API token of a request: `Authorization: Bearer`, or on SSE routes only `?access_token=`
 * (EventSource cannot send headers). Anywhere else a token in the URL is refused, not ignored: it
 * ends up in proxy logs and browser history, and a client that sends one should learn so at once.
 */
function requestToken(request: FastifyRequest): string | undefined {
  const q = request.query as { access_token?: unknown } | undefined;
  const inUrl = q !== null && typeof q === 'object' && q.access_token !== undefined;
  if (inUrl && request.routeOptions.config?.sse !== true) {
    throw new FleetError('unauthenticated', '?access_token= is accepted on SSE streams only; send the token as an Authorization: Bearer header');
  }
  const header = request.headers.authorization;
  if (header?.startsWith('Bearer ')) return header.slice(7).trim();
  return typeof q?.access_token === 'string' ? q.access_token : undefined;
}

/** Fastify with zod validation, one error shape, role checks and the audit hook. */
export async function buildApp(
  ctx: Pick<ServerContext, 'config' | 'apiTokens' | 'audit'>,
  opts: { https?: { key: string; cert: string }; logger: boolean | object },
): Promise<App> {
  const app = Fastify({
    logger: opts.logger as FastifyServerOptions['logger'],
    bodyLimit: ctx.config.maxBodyBytes,
    ...(opts.https ? { https: opts.https } : {}),
    // Per-request lines would drown the log at fleet scale; errors are logged by the handler.
    logController: new LogController({ disableRequestLogging: true }),
    ajv: { customOptions: { removeAdditional: false } },
  } as FastifyServerOptions).withTypeProvider<ZodTypeProvider>();

  app.setValidatorCompiler(validatorCompiler);
  app.setSerializerCompiler(serializerCompiler);
  app.decorateRequest('principal', null);
  app.decorateRequest('auditNote', null);

  await app.register(swagger, {
    openapi: {
      info: {
        title: 'gpufleet control plane',
        version: '0.1.0',
        description:
          'REST API of the gpufleet control plane. Every route needs `Authorization: Bearer gft_...` except /healthz, /readyz, /openapi.json, /v1/ca.pem and /api/v1/enroll.',
      },
      components: { securitySchemes: { bearer: { type: 'http', scheme: 'bearer' } } },
      security: [{ bearer: [] }],
    },
    transform: jsonSchemaTransform,
    transformObject: (documents) =>
      finishOpenApiDocument('openapiObject' in documents ? documents.openapiObject : documents.swaggerObject, {
        publicUrl: ctx.config.publicUrl,
        license: 'Apache-2.0',
      }),
  });
  // Every operation gets a stable, unique operationId, and public routes say they need no token.
  const operationIds = new OperationIds();
  app.addHook('onRoute', (route) => {
    const methods = (Array.isArray(route.method) ? route.method : [route.method]).filter((m) => m !== 'HEAD');
    if (methods.length === 0) return;
    const schema = (route.schema ?? {}) as Record<string, unknown>;
    const security = route.config?.auth === 'public' && schema.security === undefined ? { security: [] } : {};
    if (methods.length > 1) {
      // One id cannot name several operations: such a route gets none, and the lint test names it if it is documented.
      if (schema.operationId !== undefined) throw new Error(`route ${route.url}: one operationId cannot name ${methods.length} methods`);
      route.schema = { ...schema, ...security };
      return;
    }
    route.schema = { ...schema, operationId: operationIds.assign(methods[0]!, route.url, schema.operationId), ...security };
  });
  await app.register(websocket, { options: { maxPayload: 4 * 1024 * 1024 } });

  app.setErrorHandler((err, request, reply) => {
    if (hasZodFastifySchemaValidationErrors(err)) {
      const first = err.validation[0];
      const path = first?.instancePath ? first.instancePath.replace(/^\//, '').replace(/\//g, '.') : '';
      const where = `${err.validationContext ?? 'body'}${path ? ` field '${path}'` : ''}`;
      return reply.status(400).send({
        error: {
          code: 'invalid_argument',
          message: `invalid ${where}: ${first?.message ?? 'bad value'}`,
          details: err.validation.map((v) => ({ path: v.instancePath, message: v.message, params: v.params })),
        },
      });
    }
    const mapped = mapError(err);
    if (mapped.status >= 500) request.log.error({ err }, 'request failed');
    return reply.status(mapped.status).send(mapped.body);
  });
  app.setNotFoundHandler((request, reply) => {
    reply.status(404).send({ error: { code: 'not_found', message: `no route ${request.method} ${request.url.split('?')[0]}` } });
  });

  app.addHook('onRequest', async (request) => {
    if (request.routeOptions.url === undefined) return;
    const need = request.routeOptions.config?.auth ?? 'admin';
    const token = requestToken(request);
    if (need === 'public') return;
    const principal = await ctx.apiTokens.authenticate(token);
    request.principal = principal;
    if (!roleAllows(principal.role, need)) {
      throw new FleetError('permission_denied', `this needs the ${need} role; token '${principal.name}' has ${principal.role}`);
    }
  });

  // Every mutating call is audited once, here, with who, what, target and result, whatever the
  // outcome; a route that knows more (the domain action, its target, who signed) says so in
  // request.auditNote instead of writing a record of its own.
  app.addHook('onResponse', async (request, reply) => {
    if (!MUTATING.has(request.method) || !request.url.startsWith('/api/v1/') || request.url.startsWith('/api/v1/enroll')) return;
    const params = (request.params ?? {}) as Record<string, string>;
    const note = request.auditNote;
    try {
      await ctx.audit.record({
        actor: request.principal ? `token:${request.principal.name}(${request.principal.tokenId})` : 'anonymous',
        action: note?.action ?? `${request.method} ${request.routeOptions.url ?? request.url.split('?')[0]}`,
        target: note?.target !== undefined ? note.target : (params.ref ?? params.id ?? null),
        result: reply.statusCode < 400 ? 'ok' : 'error',
        details: { ...note?.details, status: reply.statusCode, requestId: request.id },
      });
    } catch (err) {
      request.log.error({ err }, 'could not write the audit record');
    }
  });

  return app;
}
