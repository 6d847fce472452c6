import { z } from 'zod';
import { BUNDLE_NAME, RELEASE_VERSION } from './release-views.js';

/**
 * A host bundle (issue 14): a pinned desired state for a host, published as a TUF target. The
 * target is a ustar archive holding `bundle.yaml` (this schema) and the files it names under
 * `files/` and `units/`. Images are pinned by digest, so a bundle version always means the same
 * bytes; a tag alone is refused at publish and on the host.
 *
 *   name: inference
 *   version: "12"
 *   containers:
 *     - name: web
 *       image: docker.io/library/busybox@sha256:<64 hex>
 *       command: [httpd, -f, -p, "8080"]
 *       env: { MODE: prod }
 *       restart: unless-stopped
 *       health: { command: [wget, -q, -O-, http://127.0.0.1:8080/], timeoutSeconds: 5, retries: 3 }
 *   files:
 *     - { path: /etc/inference/config.toml, source: files/config.toml, mode: "0644" }
 *   units:
 *     - { name: inference-exporter.service, source: units/inference-exporter.service, enable: true }
 *   hooks:
 *     pre: [sh, -c, "echo before"]
 *     post: [sh, -c, "echo after"]
 */

export const BUNDLE_MANIFEST_FILE = 'bundle.yaml';

/** An image reference pinned by digest: `repo[:tag]@sha256:<64 hex>`. */
export const PINNED_IMAGE = /^[a-z0-9][a-z0-9._\-/:]{0,254}@sha256:[0-9a-f]{64}$/;

/** Where a bundle's file lands: absolute, no `.` or `..` segment, no `//`, no trailing slash. */
const ABSOLUTE_PATH = /^(?:\/(?!\.\.?(?:\/|$))[A-Za-z0-9._+@-]+)+$/;
/** A file inside the bundle archive: files/... or units/..., no `.` or `..` segment. */
const SOURCE_PATH = /^(?:files|units)(?:\/(?!\.\.?(?:\/|$))[A-Za-z0-9._+@-]+)+$/;

const argv = z.array(z.string().max(4096)).min(1).max(256);

export const BundleHealthCheck = z.strictObject({
  /** Run inside the container (exec); exit 0 is healthy. */
  command: argv,
  timeoutSeconds: z.number().int().min(1).max(600).default(10),
  /** Tries, 1 s apart, before the container counts as unhealthy. */
  retries: z.number().int().min(1).max(60).default(3),
});

export const BundleContainer = z.strictObject({
  /** The container's name within the bundle; on the host it is gpufleet-<bundle>-<name>. */
  name: z.string().regex(/^[a-z][a-z0-9-]{0,47}$/, 'a container name is lowercase letters, digits and -, starting with a letter'),
  image: z.string().regex(PINNED_IMAGE, 'an image pinned by digest: repo[:tag]@sha256:<64 hex>'),
  command: argv.optional(),
  env: z.record(z.string().regex(/^[A-Za-z_][A-Za-z0-9_]*$/), z.string().max(8192)).default({}),
  restart: z.enum(['no', 'always', 'unless-stopped', 'on-failure']).default('unless-stopped'),
  health: BundleHealthCheck.optional(),
});
export type BundleContainer = z.infer<typeof BundleContainer>;

export const BundleFile = z.strictObject({
  path: z.string().regex(ABSOLUTE_PATH, 'an absolute path without .. or //'),
  source: z.string().regex(SOURCE_PATH, 'a file of the bundle under files/ or units/'),
  mode: z.string().regex(/^0?[0-7]{3}$/, 'an octal mode such as "0644"'),
});
export type BundleFile = z.infer<typeof BundleFile>;

export const BundleUnit = z.strictObject({
  name: z.string().regex(/^[A-Za-z0-9:_.@-]{1,200}\.(?:service|timer|socket|path|mount)$/, 'a systemd unit name such as exporter.service'),
  source: z.string().regex(SOURCE_PATH, 'a file of the bundle under units/'),
  enable: z.boolean().default(true),
});
export type BundleUnit = z.infer<typeof BundleUnit>;

export const BundleManifest = z
  .strictObject({
    name: z.string().regex(BUNDLE_NAME, 'lowercase letters, digits and -, starting with a letter'),
    version: z.string().regex(RELEASE_VERSION, 'letters, digits and . + _ -'),
    containers: z.array(BundleContainer).max(64).default([]),
    files: z.array(BundleFile).max(256).default([]),
    units: z.array(BundleUnit).max(64).default([]),
    hooks: z.strictObject({ pre: argv.optional(), post: argv.optional() }).default({}),
  })
  .superRefine((m, ctx) => {
    const dup = (list: string[], what: string, key: string): void => {
      const seen = new Set<string>();
      list.forEach((v, i) => {
        if (seen.has(v)) ctx.addIssue({ code: 'custom', path: [key, i], message: `${what} '${v}' is named twice` });
        seen.add(v);
      });
    };
    dup(
      m.containers.map((c) => c.name),
      'container',
      'containers',
    );
    dup(
      m.files.map((f) => f.path),
      'file path',
      'files',
    );
    dup(
      m.units.map((u) => u.name),
      'unit',
      'units',
    );
    if (m.containers.length + m.files.length + m.units.length === 0) {
      ctx.addIssue({ code: 'custom', path: [], message: 'a bundle needs at least one container, file or unit' });
    }
  });
export type BundleManifest = z.infer<typeof BundleManifest>;

/** The host-side container name of a bundle's container. */
export function bundleContainerName(bundle: string, container: string): string {
  return `gpufleet-${bundle}-${container}`;
}
