import type { FastifyRequest } from 'fastify';
import type { ActionAudit } from '../services/audit-log.js';
import { requestActor } from './request-actor.js';

/**
 * Runs a mutating route's work under its domain action. The app's audit hook writes the request's
 * one record; this names the action (and target, when known) before the work starts, so a refusal
 * is recorded under it too, hands the work an ActionAudit whose notes become that record's
 * action, target and details (services that take one write no record of their own), and adds the
 * error message when the work fails. The record's result comes from the response status (the hook
 * decides it), so a note's `result` is not needed here.
 */
export async function audited<T>(req: FastifyRequest, action: string, target: string | null | undefined, work: (audit: ActionAudit) => Promise<T>): Promise<T> {
  req.auditNote = target === undefined ? { action } : { action, target };
  const audit: ActionAudit = {
    actor: requestActor(req),
    note: async (entry) => {
      req.auditNote = { action: entry.action, target: entry.target, details: { ...entry.details } };
    },
  };
  try {
    return await work(audit);
  } catch (err) {
    const note = req.auditNote ?? { action };
    req.auditNote = { ...note, details: { ...note.details, error: err instanceof Error ? err.message : String(err) } };
    throw err;
  }
}
