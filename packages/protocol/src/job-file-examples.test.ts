import { readdirSync, readFileSync } from 'node:fs';
import { fileURLToPath } from 'node:url';
import { describe, expect, it } from 'vitest';
import { parseJobFile } from './job-file.js';
import { JobSpec } from './job-spec.js';

const dir = fileURLToPath(new URL('../../../examples/jobs/', import.meta.url));

describe('the example job files the README points at', () => {
  const files = readdirSync(dir).filter((f) => f.endsWith('.yaml'));

  it('exist', () => {
    expect(files).toEqual(expect.arrayContaining(['llama.yaml', 'hello-process.yaml']));
  });

  for (const file of files) {
    it(`${file} parses to a valid spec`, () => {
      const spec = parseJobFile(readFileSync(`${dir}${file}`, 'utf8'), { file });
      expect(JobSpec.safeParse(spec).success).toBe(true);
    });
  }
});
