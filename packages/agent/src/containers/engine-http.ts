import { request, type IncomingMessage } from 'node:http';
import { FleetError, type ErrorCode } from '@gpufleet/protocol';

/** One call of the Docker Engine API over its unix socket. */
export interface EngineCall {
  method: 'GET' | 'POST';
  /** The path after the version prefix, e.g. `/containers/json`. */
  path: string;
  query?: Record<string, string | number | boolean | undefined>;
  signal?: AbortSignal;
  /** Fails the call when the engine is silent this long; 0 waits forever (followed logs). */
  idleTimeoutMs: number;
}

/** A finished exchange: status and the whole body as text. */
export interface EngineReply {
  status: number;
  text: string;
}

/** A JSON reply larger than this is not something the engine sends for these calls. */
export const MAX_REPLY_BYTES = 32 * 1024 * 1024;

function urlOf(apiVersion: string, call: EngineCall): string {
  const params = new URLSearchParams();
  for (const [k, v] of Object.entries(call.query ?? {})) if (v !== undefined) params.set(k, typeof v === 'boolean' ? (v ? '1' : '0') : String(v));
  const qs = params.toString();
  return `/${apiVersion}${call.path}${qs ? `?${qs}` : ''}`;
}

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

/** The engine's own message from an error reply (`{"message": ...}` for Docker and Podman). */
export function engineMessage(status: number, text: string): string {
  try {
    const body = JSON.parse(text) as { message?: unknown };
    if (body && typeof body.message === 'string' && body.message.trim()) return body.message.trim();
  } catch {
    // Not JSON: a proxy or an old engine answered with text.
  }
  const plain = text.trim().slice(0, 500);
  return plain || `the container engine answered HTTP ${status}`;
}

/** An error reply as a FleetError that keeps the engine's message (404 "no such container" -> not_found). */
export function replyError(reply: EngineReply): FleetError {
  return new FleetError(STATUS_CODES[reply.status] ?? 'tool_failure', engineMessage(reply.status, reply.text), { details: { engineStatus: reply.status } });
}

/**
 * Opens a call and resolves with the response as soon as its headers arrive (the body is left to
 * the caller, for streams). Connection failures, timeouts and aborts reject; an abort rejects with
 * the signal's reason so callers can tell it from a failure.
 */
export function openEngineCall(socketPath: string, apiVersion: string, call: EngineCall): Promise<IncomingMessage> {
  return new Promise((resolve, reject) => {
    if (call.signal?.aborted) {
      reject(call.signal.reason);
      return;
    }
    // agent: false: one connection per call, so no idle keep-alive socket outlives the work.
    const req = request({ socketPath, path: urlOf(apiVersion, call), method: call.method, agent: false, headers: { host: 'docker', accept: 'application/json' } });
    const onAbort = () => req.destroy(call.signal?.reason instanceof Error ? call.signal.reason : new Error('aborted'));
    call.signal?.addEventListener('abort', onAbort, { once: true });
    const detach = () => call.signal?.removeEventListener('abort', onAbort);
    if (call.idleTimeoutMs > 0) {
      req.setTimeout(call.idleTimeoutMs, () => {
        req.destroy(new FleetError('unavailable', `the container engine on ${socketPath} did not answer within ${Math.round(call.idleTimeoutMs / 1000)}s`));
      });
    }
    req.on('error', (err) => {
      detach();
      if (call.signal?.aborted) reject(call.signal.reason);
      else reject(err instanceof FleetError ? err : transportError(socketPath, err));
    });
    req.on('response', (res) => {
      // The stream's consumer is done once the response closes; the abort listener goes with it.
      res.once('close', detach);
      resolve(res);
    });
    req.end();
  });
}

/** Reads a whole (bounded) body as text. */
export async function readBody(res: IncomingMessage, limit = MAX_REPLY_BYTES): Promise<string> {
  const chunks: Buffer[] = [];
  let size = 0;
  for await (const chunk of res) {
    const buf = typeof chunk === 'string' ? Buffer.from(chunk) : (chunk as Buffer);
    size += buf.length;
    if (size > limit) {
      res.destroy();
      throw new FleetError('tool_failure', `the container engine sent more than ${limit} bytes`);
    }
    chunks.push(buf);
  }
  return Buffer.concat(chunks).toString('utf8');
}

/** One complete exchange. Errors while reading the body map like connection errors. */
export async function engineExchange(socketPath: string, apiVersion: string, call: EngineCall): Promise<EngineReply> {
  const res = await openEngineCall(socketPath, apiVersion, call);
  try {
    return { status: res.statusCode ?? 0, text: await readBody(res) };
  } catch (err) {
    if (call.signal?.aborted) throw call.signal.reason;
    throw err instanceof FleetError ? err : transportError(socketPath, err);
  }
}
