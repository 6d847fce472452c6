import Fastify, { LogController, type FastifyInstance, type FastifyServerOptions } from 'fastify';
import websocket from '@fastify/websocket';
import swagger from '@fastify/swagger';
import { hasZodFastifySchemaValidationErrors, jsonSchemaTransform, serializerCompiler, validatorCompiler, type ZodTypeProvider } from 'fastify-type-provider-zod';
import { FleetError, type Role } from '@gpufleet/protocol';
import type { ServerContext } from '../context.js';
import { roleAllows, type Principal } from '../auth/api-tokens.js';
import { mapError } from './error-mapping.js';

declare module 'fastify' {
  interface FastifyRequest {
    principal: Principal | null;
  }
  interface FastifyContextConfig {
    /** Who may call the route; routes that say nothing need an admin. */
    auth?: Role | 'public';
  }
}

export type App = FastifyInstance<any, any, any, any, ZodTypeProvider>;

const MUTATING = new Set(['POST', 'PUT', 'PATCH', 'DELETE']);

function bearer(header: string | undefined, query: unknown): string | undefined {
  if (header?.startsWith('Bearer ')) return header.slice(7).trim();
  // EventSource cannot send headers: SSE routes also take ?access_token=.
  const q = query as { access_token?: unknown } | undefined;
  return typeof q?.access_token === 'string' ? q.access_token : undefined;
}

/** Fastify with zod validation, one error shape, role checks and the audit hook. */
export async function buildApp(ctx: Omit<ServerContext, 'log'>, opts: { https?: { key: string; cert: string }; logger: boolean | object }): Promise<App> {
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

  await app.register(swagger, {
    openapi: {
      info: { title: 'gpufleet control plane', version: '0.1.0', description: 'REST API of the gpufleet control plane. Every route needs `Authorization: Bearer gft_...` except /healthz, /readyz, /openapi.json, /v1/ca.pem and /api/v1/enroll.' },
      components: { securitySchemes: { bearer: { type: 'http', scheme: 'bearer' } } },
      security: [{ bearer: [] }],
    },
    transform: jsonSchemaTransform,
  });
  await app.register(websocket, { options: { maxPayload: 4 * 1024 * 1024 } });

  app.setErrorHandler((err, request, reply) => {
    if (hasZodFastifySchemaValidationErrors(err)) {
      const first = err.validation[0];
      const path = first?.instancePath ? first.instancePath.replace(/^\//, '').replace(/\//g, '.') : '';
      const where = `${err.validationContext ?? 'body'}${path ? ` field '${path}'` : ''}`;
      return reply.status(400).send({ error: { code: 'invalid_argument', message: `invalid ${where}: ${first?.message ?? 'bad value'}`, details: err.validation.map((v) => ({ path: v.instancePath, message: v.message, params: v.params })) } });
    }
    const mapped = mapError(err);
    if (mapped.status >= 500) request.log.error({ err }, 'request failed');
    return reply.status(mapped.status).send(mapped.body);
  });
  app.setNotFoundHandler((request, reply) => {
    reply.status(404).send({ error: { code: 'not_found', message: `no route ${request.method} ${request.url.split('?')[0]}` } });
  });

  app.addHook('onRequest', async (request) => {
    const need = request.routeOptions.config?.auth ?? 'admin';
    if (need === 'public' || request.routeOptions.url === undefined) return;
    const principal = await ctx.apiTokens.authenticate(bearer(request.headers.authorization, request.query));
    request.principal = principal;
    if (!roleAllows(principal.role, need)) {
      throw new FleetError('permission_denied', `this needs the ${need} role; token '${principal.name}' has ${principal.role}`);
    }
  });

  // Every mutating call is audited with who, what, target and result, whatever the outcome.
  app.addHook('onResponse', async (request, reply) => {
    if (!MUTATING.has(request.method) || !request.url.startsWith('/api/v1/') || request.url.startsWith('/api/v1/enroll')) return;
    const params = (request.params ?? {}) as Record<string, string>;
    try {
      await ctx.audit.record({
        actor: request.principal ? `token:${request.principal.name}(${request.principal.tokenId})` : 'anonymous',
        action: `${request.method} ${request.routeOptions.url ?? request.url.split('?')[0]}`,
        target: params.ref ?? params.id ?? null,
        result: reply.statusCode < 400 ? 'ok' : 'error',
        details: { status: reply.statusCode, requestId: request.id },
      });
    } catch (err) {
      request.log.error({ err }, 'could not write the audit record');
    }
  });

  return app;
}
