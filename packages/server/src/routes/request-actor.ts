import type { FastifyRequest } from 'fastify';

/** The audit actor of a request, spelled as the audit hook in http/app.ts spells it. */
export function requestActor(req: FastifyRequest): string {
  return req.principal ? `token:${req.principal.name}(${req.principal.tokenId})` : 'anonymous';
}
