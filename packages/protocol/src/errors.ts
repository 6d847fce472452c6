/**
 * Domain errors. They know nothing of HTTP or WebSocket: the server maps each code to a
 * status or close code in one place (server/src/http/error-mapping.ts).
 */
export const ERROR_CODES = [
  'invalid_argument',
  'unauthenticated',
  'permission_denied',
  'not_found',
  'already_exists',
  'conflict',
  'failed_precondition',
  'payload_too_large',
  'rate_limited',
  'unsupported_version',
  'unavailable',
  'tool_failure',
  'internal',
] as const;

export type ErrorCode = (typeof ERROR_CODES)[number];

export class FleetError extends Error {
  readonly code: ErrorCode;
  readonly details?: unknown;

  constructor(code: ErrorCode, message: string, options: { details?: unknown; cause?: unknown } = {}) {
    super(message, options.cause === undefined ? undefined : { cause: options.cause });
    this.name = 'FleetError';
    this.code = code;
    this.details = options.details;
  }

  static is(err: unknown, code?: ErrorCode): err is FleetError {
    return err instanceof FleetError && (code === undefined || err.code === code);
  }
}

export function isErrorCode(value: unknown): value is ErrorCode {
  return typeof value === 'string' && (ERROR_CODES as readonly string[]).includes(value);
}
