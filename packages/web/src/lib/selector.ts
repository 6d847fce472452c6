// The protocol package's index pulls in node:crypto, so the browser takes the pure selector
// module from its source file directly (types come from the package as type-only imports).
export { parseSelector, matchesSelector, isLabelKey, isLabelValue, formatSelector } from '../../../protocol/src/selector.js';
export type { Selector, Labels, Requirement } from '../../../protocol/src/selector.js';

import { parseSelector as parse } from '../../../protocol/src/selector.js';

/** Null when `text` is a valid label selector in the CLI's syntax (blank is valid), else why not. */
export function checkSelector(text: string): string | null {
  if (text.trim() === '') return null;
  try {
    parse(text);
    return null;
  } catch (err) {
    return err instanceof Error ? err.message : String(err);
  }
}
