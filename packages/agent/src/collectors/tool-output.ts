import { FleetError } from '@gpufleet/protocol';

/** Builds the "expected <format>: <reason>" error every parser raises for input it cannot read. */
export function invalidFor(format: string, formatId: string): (reason: string, cause?: unknown) => FleetError {
  return (reason, cause) => new FleetError('invalid_argument', `expected ${format}: ${reason}`, { details: { format: formatId }, cause });
}

/** Parses a vendor tool's JSON output, refusing empty or broken text with the parser's error. */
export function parseToolJson(text: string, invalid: (reason: string, cause?: unknown) => FleetError): unknown {
  if (typeof text !== 'string' || text.trim() === '') throw invalid('the output is empty');
  try {
    return JSON.parse(text);
  } catch (err) {
    throw invalid(`not valid JSON (${(err as Error).message})`, err);
  }
}
