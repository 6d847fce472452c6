import { ERROR_CODES } from '@gpufleet/protocol';

// biome-ignore lint/suspicious/noExplicitAny: the OpenAPI document is free-form JSON walked and patched in place
type Json = Record<string, any>;

const METHODS = ['get', 'put', 'post', 'delete', 'patch', 'head', 'options', 'trace'];

const errorResponse = (description: string) => ({ description, content: { 'application/json': { schema: { $ref: '#/components/schemas/Error' } } } });

/** The 4xx responses every route may give, in the one error envelope (DESIGN.md §6). */
const RESPONSES: Json = {
  BadRequest: errorResponse('`invalid_argument`: a parameter, query or body does not match the schema'),
  Unauthenticated: errorResponse('`unauthenticated`: no valid API token, or a token in the URL (`?access_token=` is accepted on SSE streams only)'),
  PermissionDenied: errorResponse("`permission_denied`: the token's role does not allow this"),
  NotFound: errorResponse('`not_found`: nothing with this id or name'),
  PayloadTooLarge: errorResponse('`payload_too_large`: the request body is larger than the limit'),
  Error: errorResponse(
    'any other error, in the same envelope (`code` names it: conflict 409, failed_precondition 412, rate_limited 429, unavailable 503, ...)',
  ),
};

const ERROR_SCHEMA: Json = {
  type: 'object',
  required: ['error'],
  properties: {
    error: {
      type: 'object',
      required: ['code', 'message'],
      properties: {
        code: { type: 'string', enum: [...ERROR_CODES], description: 'one of a closed list; clients branch on this, never on the message' },
        message: { type: 'string', description: 'for people: what went wrong and, where it helps, what to do' },
        details: { description: 'structured context, e.g. the failing fields of a validation error' },
      },
    },
  },
};

/**
 * Completes the document @fastify/swagger generates: `servers`, the license, the error envelope
 * as a shared schema and the 4xx responses of every operation (added here, in one place, rather
 * than on each route; a route's own response for a status wins), and one repair of what zod
 * emits (`nullable` without a `type`, which OpenAPI 3.0 forbids: an untyped schema admits null
 * already). Returns a new object; the input is not changed.
 */
export function finishOpenApiDocument(input: Json, opts: { publicUrl: string | null; license: string }): Json {
  const doc = dropUntypedNullable(structuredClone(input)) as Json;
  doc.info = { ...doc.info, license: { name: opts.license, url: 'https://www.apache.org/licenses/LICENSE-2.0' } };
  doc.servers = [
    opts.publicUrl ? { url: opts.publicUrl, description: 'this control plane' } : { url: '/', description: 'the control plane that served this document' },
  ];
  doc.components = {
    ...doc.components,
    schemas: { ...doc.components?.schemas, Error: ERROR_SCHEMA },
    responses: { ...doc.components?.responses, ...RESPONSES },
  };
  for (const [path, item] of Object.entries<Json>(doc.paths ?? {})) {
    for (const method of METHODS) {
      const op = item[method] as Json | undefined;
      if (!op) continue;
      const add: Record<string, string> = { '401': 'Unauthenticated' };
      const hasInput = (op.parameters?.length ?? 0) > 0 || op.requestBody !== undefined;
      if (hasInput) add['400'] = 'BadRequest';
      // A public route (security: []) needs no role.
      if (!(Array.isArray(op.security) && op.security.length === 0)) add['403'] = 'PermissionDenied';
      if (path.includes('{')) add['404'] = 'NotFound';
      if (op.requestBody !== undefined) add['413'] = 'PayloadTooLarge';
      op.responses = { ...op.responses };
      add.default = 'Error';
      for (const [status, name] of Object.entries(add))
        if (op.responses[status] === undefined) op.responses[status] = { $ref: `#/components/responses/${name}` };
    }
  }
  return doc;
}

function dropUntypedNullable(node: unknown): unknown {
  if (Array.isArray(node)) {
    node.forEach(dropUntypedNullable);
    return node;
  }
  if (node !== null && typeof node === 'object') {
    const o = node as Json;
    if (o.nullable === true && o.type === undefined && o.$ref === undefined) delete o.nullable;
    for (const value of Object.values(o)) dropUntypedNullable(value);
  }
  return node;
}
