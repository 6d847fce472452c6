import { FleetError, type ErrorCode } from '@gpufleet/protocol';

/** Maps a failed connection to the socket to an error that says what to check. */
export function transportError(socketPath: string, err: unknown): FleetError {
  const code = (err as NodeJS.ErrnoException | undefined)?.code;
  switch (code) {
    case 'ENOENT':
    case 'ECONNREFUSED':
      return new FleetError('unavailable', `no container engine answers on ${socketPath} (${code})`, { cause: err });
    case 'EACCES':
    case 'EPERM':
      return new FleetError('permission_denied', `cannot open the container engine socket ${socketPath}: permission denied`, { cause: err });
    default:
      return new FleetError('unavailable', `the container engine on ${socketPath} failed: ${(err as Error)?.message ?? String(err)}`, { cause: err });
  }
}

const STATUS_CODES: Record<number, ErrorCode> = {
  400: 'invalid_argument',
  401: 'permission_denied',
  403: 'permission_denied',
  404: 'not_found',
  409: 'conflict',
};

/**
 * The engine's own message from an error reply: `{"message": ...}` for Docker and Podman
 * (dockerode hands the reply over parsed, or as text/bytes when it was not JSON).
 */
export function engineMessage(status: number, body: unknown): string {
  if (body && typeof body === 'object' && !Buffer.isBuffer(body)) {
    const message = (body as { message?: unknown }).message;
    if (typeof message === 'string' && message.trim()) return message.trim();
  }
  let text = Buffer.isBuffer(body) ? body.toString('utf8') : typeof body === 'string' ? body : '';
  try {
    const parsed = JSON.parse(text) as { message?: unknown };
    if (parsed && typeof parsed.message === 'string' && parsed.message.trim()) return parsed.message.trim();
  } catch {
    // Not JSON: a proxy or an old engine answered with text.
  }
  text = text.trim().slice(0, 500);
  return text || `the container engine answered HTTP ${status}`;
}

/** An engine error reply as a FleetError that keeps the engine's message (404 "no such container" -> not_found). */
export function replyError(status: number, body: unknown): FleetError {
  return new FleetError(STATUS_CODES[status] ?? 'tool_failure', engineMessage(status, body), { details: { engineStatus: status } });
}

/** dockerode's error for an HTTP reply it did not expect: the status and the (parsed) body. */
export function httpStatusOf(err: unknown): { status: number; body: unknown } | null {
  const e = err as { statusCode?: unknown; json?: unknown } | null;
  return e && typeof e.statusCode === 'number' ? { status: e.statusCode, body: e.json } : null;
}
