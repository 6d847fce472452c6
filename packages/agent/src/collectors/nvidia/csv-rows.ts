/**
 * Splits CSV text into rows of trimmed fields. nvidia-smi separates fields with `, ` and never
 * quotes, but RFC 4180 quoting (`"a, b"`, `""` for a quote) is understood so that a value with a
 * comma cannot shift the columns. Blank lines are skipped; a field cannot span lines.
 * Returns an error message instead of rows when a quote is left open.
 */
export function splitCsvRows(text: string): { rows: string[][] } | { error: string } {
  const rows: string[][] = [];
  const lines = text.split(/\r?\n/);
  for (let n = 0; n < lines.length; n += 1) {
    const line = lines[n]!;
    if (line.trim() === '') continue;
    const fields: string[] = [];
    let at = 0;
    for (;;) {
      while (line[at] === ' ' || line[at] === '\t') at += 1;
      let value: string;
      if (line[at] === '"') {
        let close = at + 1;
        let out = '';
        for (;;) {
          const quote = line.indexOf('"', close);
          if (quote === -1) return { error: `line ${n + 1}: a quoted field is not closed` };
          out += line.slice(close, quote);
          if (line[quote + 1] === '"') {
            out += '"';
            close = quote + 2;
          } else {
            close = quote + 1;
            break;
          }
        }
        while (line[close] === ' ' || line[close] === '\t') close += 1;
        if (close < line.length && line[close] !== ',') {
          return { error: `line ${n + 1}: text after a closing quote` };
        }
        value = out;
        at = close;
      } else {
        const comma = line.indexOf(',', at);
        const end = comma === -1 ? line.length : comma;
        value = line.slice(at, end).trim();
        at = end;
      }
      fields.push(value);
      if (at >= line.length) break;
      at += 1; // past the comma
    }
    rows.push(fields);
  }
  return { rows };
}
