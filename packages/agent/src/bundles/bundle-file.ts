import { isPair, visit, type Document } from 'yaml';
import { BundleManifest, protoKeyPath, readYamlFile, yamlKeyText, type YamlFileFormat } from '@gpufleet/protocol';

/** A bundle.yaml larger than this is refused before it is parsed. */
export const BUNDLE_FILE_MAX_BYTES = 256 * 1024;

/** Fields whose values are text even when they look like numbers: `version: 12`, `mode: 0644`, `command: [sleep, 30]`. */
const TEXT_FIELDS = new Set(['version', 'mode', 'env', 'command', 'pre', 'post']);

/**
 * YAML reads `version: 12` as a number and `mode: 0644` as 644; people write both that way. The
 * scalar's source text is what they meant, so it is kept (`0644` stays `0644`, `1.10` stays `1.10`).
 */
function keepText(doc: Document): void {
  visit(doc, {
    Scalar(_key, node, path) {
      if (typeof node.value !== 'number' && typeof node.value !== 'boolean') return;
      if (path.filter(isPair).some((p) => TEXT_FIELDS.has(yamlKeyText(p.key)))) node.value = node.source ?? String(node.value);
    },
  });
}

const BUNDLE_FILE_FORMAT: YamlFileFormat = {
  noun: 'bundle file',
  topFields: 'name, version, containers, files, units, hooks',
  maxBytes: BUNDLE_FILE_MAX_BYTES,
  schema: BundleManifest,
  misnames: { services: 'containers', volumes: 'files', environment: 'env', healthcheck: 'health', cmd: 'command' },
  prepare: keepText,
};

/**
 * Parses a bundle.yaml (issue 14) into a BundleManifest, defaults filled in. Throws
 * FleetError('invalid_argument') naming the line, column and field of the first problem
 * (`bundle.yaml:7:14: containers[0].image: an image pinned by digest: repo[:tag]@sha256:<64 hex>`).
 * The CLI reads it before publishing and the agent again before applying: one reader, one wording.
 */
export function parseBundleFile(text: unknown, file = 'bundle.yaml'): BundleManifest {
  return readYamlFile(BUNDLE_FILE_FORMAT, text, file, (data, report) => {
    const proto = protoKeyPath(data);
    if (proto) return report([{ code: 'custom', path: proto as (string | number)[], message: 'not a name a bundle file may use', input: undefined }]);
    const read = BundleManifest.safeParse(data);
    if (!read.success) return report(read.error.issues);
    return read.data;
  });
}
