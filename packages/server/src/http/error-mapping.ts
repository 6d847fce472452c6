import { FleetError, type ErrorBody, type ErrorCode } from '@gpufleet/protocol';

/** The one place where domain error codes become HTTP statuses. */
export const HTTP_STATUS: Record<ErrorCode, number> = {
  invalid_argument: 400,
  unauthenticated: 401,
  permission_denied: 403,
  not_found: 404,
  already_exists: 409,
  conflict: 409,
  failed_precondition: 412,
  payload_too_large: 413,
  rate_limited: 429,
  unsupported_version: 426,
  unavailable: 503,
  tool_failure: 502,
  internal: 500,
};

const FASTIFY_CODES: Record<string, { code: ErrorCode; message?: string; status?: number }> = {
  FST_ERR_CTP_BODY_TOO_LARGE: { code: 'payload_too_large', message: 'request body is larger than the limit' },
  FST_ERR_CTP_INVALID_MEDIA_TYPE: { code: 'invalid_argument', message: 'unsupported content type: send application/json', status: 415 },
  FST_ERR_CTP_EMPTY_JSON_BODY: { code: 'invalid_argument', message: 'the JSON body is empty' },
  FST_ERR_CTP_INVALID_JSON_BODY: { code: 'invalid_argument', message: 'the body is not valid JSON' },
  FST_ERR_CTP_INVALID_CONTENT_LENGTH: { code: 'invalid_argument', message: 'content-length does not match the body' },
};

export interface MappedError {
  status: number;
  body: ErrorBody;
}

/** Turns any thrown value into a status and the `{error:{code,message,details}}` body. */
export function mapError(err: unknown): MappedError {
  if (err instanceof FleetError) {
    return {
      status: HTTP_STATUS[err.code],
      body: { error: { code: err.code, message: err.message, ...(err.details === undefined ? {} : { details: err.details }) } },
    };
  }
  const e = err as { code?: string; statusCode?: number; message?: string; validation?: unknown };
  if (e && typeof e.code === 'string' && FASTIFY_CODES[e.code]) {
    const m = FASTIFY_CODES[e.code]!;
    return { status: m.status ?? HTTP_STATUS[m.code], body: { error: { code: m.code, message: m.message ?? String(e.message) } } };
  }
  if (e && typeof e.statusCode === 'number' && e.statusCode >= 400 && e.statusCode < 500) {
    // JSON syntax errors and other client faults fastify raised before our handlers ran.
    const code: ErrorCode = e.statusCode === 413 ? 'payload_too_large' : e.statusCode === 404 ? 'not_found' : 'invalid_argument';
    return { status: e.statusCode === 415 ? 415 : HTTP_STATUS[code], body: { error: { code, message: String(e.message ?? 'bad request') } } };
  }
  return { status: 500, body: { error: { code: 'internal', message: 'internal error (see the server log)' } } };
}
