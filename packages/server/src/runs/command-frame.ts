import { FleetError, type ScriptSignature, type ServerFrame, type SignedCommand } from '@gpufleet/protocol';

/** Finds a library script's content and signature (scripts/script-library.ts); null: no such version. */
export type RunScriptLookup = (name: string, version: number) => Promise<{ content: string; signature: ScriptSignature | null } | null>;

/** No library: every script command is refused with not_found. */
export const noScripts: RunScriptLookup = async () => null;

/** The frame every target gets; for a library script, with its content and signature. */
export async function commandFrame(command: SignedCommand, scriptLookup: RunScriptLookup): Promise<ServerFrame> {
  const spec = command.payload.command;
  if (spec.kind !== 'script') return { t: 'command', body: { command, scriptContent: null, scriptSignature: null } };
  const found = await scriptLookup(spec.name, spec.version);
  if (!found) throw new FleetError('not_found', `script '${spec.name}' version ${spec.version} is not in the library (see gpufleet scripts ls)`);
  return { t: 'command', body: { command, scriptContent: found.content, scriptSignature: found.signature } };
}
