import { describe, expect, it } from 'vitest';
import { parseBundleFile } from './bundle-file.js';

const DIGEST = `sha256:${'a'.repeat(64)}`;

describe('parseBundleFile', () => {
  it('reads a bundle as people write it: numbers that are text stay text', () => {
    const m = parseBundleFile(`name: inference
version: 12
containers:
  - name: web
    image: localhost/busybox@${DIGEST}
    command: [sleep, 30]
    env: { PORT: 8080, DEBUG: true }
    health: { command: [cat, /version], timeoutSeconds: 2 }
files:
  - { path: /etc/inference/a.toml, source: files/a.toml, mode: 0644 }
units:
  - { name: exporter.service, source: units/exporter.service, enable: false }
hooks:
  pre: [sh, -c, "exit 0"]
`);
    expect(m.version).toBe('12');
    expect(m.containers[0]).toMatchObject({ command: ['sleep', '30'], env: { PORT: '8080', DEBUG: 'true' }, restart: 'unless-stopped' });
    expect(m.containers[0]!.health).toEqual({ command: ['cat', '/version'], timeoutSeconds: 2, retries: 3 });
    expect(m.files[0]!.mode).toBe('0644');
    expect(m.units[0]!.enable).toBe(false);
    expect(parseBundleFile('name: x\nversion: 1.10\nfiles: [{ path: /a, source: files/a, mode: "600" }]\n').version).toBe('1.10');
  });

  it('refuses garbage with the line, column and field', () => {
    const cases: Array<[unknown, RegExp]> = [
      ['name: [unclosed\n', /^bundle.yaml:\d+:\d+: not valid YAML/],
      ['', /^bundle.yaml:1:1: the bundle file is empty/],
      ['- a list\n', /a bundle file is a map of fields \(name, version, containers/],
      ['name: x\nversion: "1"\n', /a bundle needs at least one container, file or unit/],
      [`name: x\nversion: "1"\ncontainers: [{ name: web, image: busybox:latest }]\n`, /^bundle.yaml:3:\d+: containers\[0\]\.image: an image pinned by digest/],
      ['name: X\nversion: "1"\nfiles: [{ path: /a, source: files/a, mode: "0644" }]\n', /bundle.yaml:1:7: name: lowercase letters/],
      ['name: x\nversion: "1"\nfiles: [{ path: ../a, source: files/a, mode: "0644" }]\n', /files\[0\]\.path: an absolute path without \.\./],
      ['name: x\nversion: "1"\nfiles: [{ path: /a, source: ../a, mode: "0644" }]\n', /files\[0\]\.source: a file of the bundle under files\/ or units\//],
      ['name: x\nversion: "1"\nfiles: [{ path: /a, source: files/a, mode: "0999" }]\n', /files\[0\]\.mode: an octal mode/],
      ['name: x\nversion: "1"\nservices: []\nfiles: [{ path: /a, source: files/a, mode: "0644" }]\n', /services: unknown field \(did you mean containers\?\)/],
      ['name: x\nname: y\n', /duplicate key 'name'/],
      [
        'name: x\nversion: "1"\nfiles: [{ path: /a, source: files/a, mode: "0644" }, { path: /a, source: files/b, mode: "0644" }]\n',
        /file path '\/a' is named twice/,
      ],
      [42, /the bundle file is not text/],
      [`name: x\n${'a: b\n'.repeat(60_000)}`, /bytes; at most/],
    ];
    for (const [text, message] of cases) expect(() => parseBundleFile(text), String(text).slice(0, 60)).toThrow(message);
  });
});
