import type { Capability, ScriptSignature } from './remote-ops.js';

// How the REST API shows registered capabilities and library scripts: one set of types for the
// server that answers, the CLI and the dashboard that read (times in ISO 8601).

/** A registered capability, as GET /api/v1/capabilities lists it. */
export interface CapabilityView {
  id: string;
  iss: string;
  aud: string;
  can: string[];
  on: string;
  nbf: string;
  exp: string;
  revoked: boolean;
  state: 'pending' | 'active' | 'expired' | 'revoked';
  /** capabilityId of every link, the root-issued one first and this one last. */
  chain: string[];
  addedAt: string;
  addedBy: string;
  capability: Capability;
}

/** A script version, as GET /api/v1/scripts lists it. */
export interface ScriptView {
  name: string;
  version: number;
  sha256: string;
  signer: string;
  createdAt: string;
  createdBy: string;
  removed: boolean;
  removedAt: string | null;
}

/** One version with its content and signature, and the script's history. */
export interface ScriptDetail extends ScriptView {
  content: string;
  signature: ScriptSignature;
  history: ScriptView[];
}
