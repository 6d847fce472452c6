/**
 * Test helper for the nvidia_gpu_exporter capture bundles in fixtures/nvidia: each section starts
 * with a banner of `#` lines naming it (`# load :: query (-q)`) and runs to the next banner.
 */
const RULE = /^#{20,}\s*$/;

/** The text of the section whose banner names it (`idle :: query (-q)`); throws when there is none. */
export function extractBundleSection(bundle: string, name: string): string {
  const lines = bundle.split(/\r?\n/);
  const title = lines.findIndex((line) => line.trim() === `# ${name}`);
  if (title === -1) throw new Error(`capture bundle has no section "${name}"`);
  // The banner is: rule, `# name`, optional `# $ command` lines, rule.
  let start = title + 1;
  while (start < lines.length && !RULE.test(lines[start]!)) start += 1;
  start += 1;
  let end = start;
  while (end < lines.length && !RULE.test(lines[end]!)) end += 1;
  return lines.slice(start, end).join('\n');
}

/** Names of every section in the bundle, in order. */
export function bundleSectionNames(bundle: string): string[] {
  const lines = bundle.split(/\r?\n/);
  const names: string[] = [];
  lines.forEach((line, i) => {
    if (i > 0 && RULE.test(lines[i - 1]!) && /^# \S.* :: /.test(line)) names.push(line.slice(2).trim());
  });
  return names;
}
