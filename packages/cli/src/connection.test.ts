import { chmodSync, mkdirSync, mkdtempSync, readFileSync, rmSync, statSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import { configPath, contextNameFor, loadConfig, saveConfig } from './config-file.js';
import { LOCAL_SERVER, resolveConnection } from './connection.js';
import { CliError, UsageError } from './errors.js';
import { captureIo } from './testing/capture-io.js';

let dir: string;
let env: NodeJS.ProcessEnv;

beforeEach(() => {
  dir = mkdtempSync(join(tmpdir(), 'gpufleet-conn-'));
  env = { XDG_CONFIG_HOME: join(dir, 'xdg') };
});

afterEach(() => rmSync(dir, { recursive: true, force: true }));

const io = (extraEnv: NodeJS.ProcessEnv = {}) => captureIo({ env: { ...env, ...extraEnv }, cwd: join(dir, 'work'), home: join(dir, 'home') });

function saveContexts() {
  saveConfig(configPath(env, '/unused'), {
    current: 'prod',
    contexts: {
      prod: { server: 'https://fleet.example.com', token: 'gft_prod_secret', caPem: 'PEM' },
      lab: { server: 'http://10.0.0.5:7420', token: 'gft_lab_secret' },
    },
  });
}

describe('config file', () => {
  it('lives under XDG_CONFIG_HOME, else ~/.config', () => {
    expect(configPath({ XDG_CONFIG_HOME: '/x' }, '/home/u')).toBe('/x/gpufleet/config.yaml');
    expect(configPath({}, '/home/u')).toBe('/home/u/.config/gpufleet/config.yaml');
    // A relative XDG_CONFIG_HOME is invalid per the spec and ignored.
    expect(configPath({ XDG_CONFIG_HOME: 'rel' }, '/home/u')).toBe('/home/u/.config/gpufleet/config.yaml');
  });

  it('round-trips and is written with mode 0600, even over a looser file', () => {
    const path = configPath(env, '/unused');
    mkdirSync(join(dir, 'xdg', 'gpufleet'), { recursive: true });
    writeFileSync(path, 'current: null\n', { mode: 0o644 });
    chmodSync(path, 0o644);
    saveContexts();
    expect(statSync(path).mode & 0o777).toBe(0o600);
    const config = loadConfig(path);
    expect(config.current).toBe('prod');
    expect(config.contexts.prod).toEqual({ server: 'https://fleet.example.com', token: 'gft_prod_secret', caPem: 'PEM' });
    expect(config.contexts.lab).toEqual({ server: 'http://10.0.0.5:7420', token: 'gft_lab_secret' });
  });

  it('treats a missing file as empty and a damaged one as a clear error', () => {
    const path = configPath(env, '/unused');
    expect(loadConfig(path)).toEqual({ current: null, contexts: {} });
    mkdirSync(join(dir, 'xdg', 'gpufleet'), { recursive: true });
    for (const text of ['contexts: [1, 2', 'contexts: [1, 2]', '- a\n- b', 'contexts:\n  x: { server: 1 }']) {
      writeFileSync(path, text);
      expect(() => loadConfig(path)).toThrow(/config file .* is damaged/);
    }
  });

  it('forgets a current context that does not exist', () => {
    const path = configPath(env, '/unused');
    mkdirSync(join(dir, 'xdg', 'gpufleet'), { recursive: true });
    writeFileSync(path, 'current: gone\ncontexts: {}\n');
    expect(loadConfig(path).current).toBeNull();
  });

  it('names a context after the server host', () => {
    expect(contextNameFor('https://fleet.example.com')).toBe('fleet.example.com');
    expect(contextNameFor('http://127.0.0.1:7420')).toBe('127.0.0.1-7420');
    expect(contextNameFor('http://[::1]:7420')).toBe('1-7420');
  });
});

describe('resolveConnection', () => {
  it('takes flags first', () => {
    saveContexts();
    const c = resolveConnection({ server: 'http://other:1', token: 'gft_flag_tok' }, io({ GPUFLEET_SERVER: 'http://env:2', GPUFLEET_TOKEN: 'gft_env_tok' }));
    expect(c).toEqual({ server: 'http://other:1', token: 'gft_flag_tok', source: '--token' });
  });

  it('then GPUFLEET_SERVER / GPUFLEET_TOKEN', () => {
    saveContexts();
    const c = resolveConnection({}, io({ GPUFLEET_SERVER: 'http://env:2/', GPUFLEET_TOKEN: 'gft_env_tok' }));
    expect(c).toEqual({ server: 'http://env:2', token: 'gft_env_tok', source: 'GPUFLEET_TOKEN' });
  });

  it('then the current context, with its CA', () => {
    saveContexts();
    expect(resolveConnection({}, io())).toEqual({ server: 'https://fleet.example.com', token: 'gft_prod_secret', caPem: 'PEM', source: 'context prod' });
  });

  it('uses another context with --context or GPUFLEET_CONTEXT', () => {
    saveContexts();
    expect(resolveConnection({ context: 'lab' }, io()).token).toBe('gft_lab_secret');
    expect(resolveConnection({}, io({ GPUFLEET_CONTEXT: 'lab' })).server).toBe('http://10.0.0.5:7420');
    expect(() => resolveConnection({ context: 'nope' }, io())).toThrow(UsageError);
  });

  it("never sends a context's token to another server", () => {
    saveContexts();
    expect(() => resolveConnection({ server: 'http://evil.example:80' }, io())).toThrow(/no API token for http:\/\/evil.example/);
  });

  it('falls back to the admin token file of the local server', () => {
    const data = join(dir, 'work', 'gpufleet-data');
    mkdirSync(data, { recursive: true });
    writeFileSync(join(data, 'admin-token'), 'gft_admin_local\n', { mode: 0o600 });
    expect(resolveConnection({}, io())).toEqual({ server: LOCAL_SERVER, token: 'gft_admin_local', source: join(data, 'admin-token') });
    // Only for the local server: a remote one never gets the local admin token.
    expect(() => resolveConnection({ server: 'http://remote:7420' }, io())).toThrow(CliError);
  });

  it('finds the admin token through GPUFLEET_DATA_DIR', () => {
    const data = join(dir, 'elsewhere');
    mkdirSync(data, { recursive: true });
    writeFileSync(join(data, 'admin-token'), 'gft_admin_else\n');
    expect(resolveConnection({}, io({ GPUFLEET_DATA_DIR: data })).token).toBe('gft_admin_else');
  });

  it('explains what to do when there is no token at all', () => {
    expect(() => resolveConnection({}, io())).toThrow(/no API token for http:\/\/127\.0\.0\.1:7420: run `gpufleet login/);
  });

  it('refuses garbage tokens and URLs', () => {
    expect(() => resolveConnection({ token: 'not a token' }, io())).toThrow(/gft_<id>_<secret>/);
    expect(() => resolveConnection({ server: 'http://exa mple', token: 'gft_a_b' }, io())).toThrow(UsageError);
  });
});

describe('config file permissions on disk', () => {
  it('creates the folder 0700', () => {
    saveContexts();
    expect(statSync(join(dir, 'xdg', 'gpufleet')).mode & 0o777).toBe(0o700);
    expect(readFileSync(configPath(env, '/unused'), 'utf8')).toContain('gft_prod_secret');
  });
});
