import { X509Certificate } from 'node:crypto';
import { existsSync, mkdtempSync, readdirSync, readFileSync, rmSync, statSync, writeFileSync } from 'node:fs';
import { createServer, request, type Server } from 'node:https';
import type { AddressInfo } from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import { FleetError } from '@gpufleet/protocol';
import type { Store } from '../store/store.js';
import { masterKeysFrom } from '../trust/master-keys.js';
import { openSecret, sealSecret } from '../trust/secret-box.js';
import { ensureServerTls } from './ensure-server-tls.js';
import { SHARED_CA_SECRET_ID } from './shared-ca.js';
import { pemCertificateBlocks, type ServerTls } from './tls-material.js';
import { SCRATCH_STORES } from '../store/__tests__/scratch-stores.js';

/** The TLS CA shared by replicas through the store, on both stores (PostgreSQL of this machine and CI; GPUFLEET_TEST_PG overrides the URL). */
const MASTER = 'the replicas share this master key';
const T0 = Date.UTC(2026, 0, 15, 12, 0, 0);

const openers = SCRATCH_STORES;

const leafOf = (tls: ServerTls) => new X509Certificate(pemCertificateBlocks(tls.certPem)[0]!);
const tlsFiles = (dataDir: string) => readdirSync(join(dataDir, 'tls')).sort();

async function rejection(promise: Promise<unknown>): Promise<FleetError> {
  const err = await promise.then(
    () => null,
    (e: unknown) => e,
  );
  expect(err).toBeInstanceOf(FleetError);
  return err as FleetError;
}

for (const [kind, open] of Object.entries(openers)) {
  describe(`the TLS CA shared by replicas (${kind} store)`, () => {
    let store: Store;
    let cleanup: () => Promise<void>;
    const dirs: string[] = [];
    const servers: Server[] = [];
    const dataDir = () => {
      const dir = mkdtempSync(join(tmpdir(), 'gpufleet-shared-ca-'));
      dirs.push(dir);
      return dir;
    };
    /** One replica's start: its data dir and names, the shared store. */
    const start = async (dir: string, o: { masterKey?: string; env?: Record<string, string>; replicated?: boolean; hostnames?: string[]; at?: number } = {}) =>
      ensureServerTls({
        dataDir: dir,
        hostnames: o.hostnames ?? [],
        ips: [],
        sharing: { store, keys: masterKeysFrom(o.env ?? {}, 'masterKey' in o ? (o.masterKey ?? '') : MASTER), replicated: o.replicated ?? true },
        clock: () => o.at ?? T0,
      });
    /** A CA made by a server that ran without a master key (today's per-data-dir CA). */
    const legacyCa = (dir: string) => ensureServerTls({ dataDir: dir, hostnames: [], ips: [], clock: () => T0 });

    beforeEach(async () => {
      ({ store, cleanup } = await open());
      await store.migrate();
    });
    afterEach(async () => {
      await Promise.all(servers.splice(0).map((s) => new Promise((resolve) => s.close(resolve))));
      await cleanup();
      for (const dir of dirs.splice(0)) rmSync(dir, { recursive: true, force: true });
    });

    async function serve(tls: ServerTls): Promise<number> {
      const server = createServer({ cert: tls.certPem, key: tls.keyPem }, (_req, res) => res.end('ok'));
      servers.push(server);
      await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
      return (server.address() as AddressInfo).port;
    }
    const get = (port: number, servername: string, ca: string) =>
      new Promise<string>((resolve, reject) => {
        const req = request({ host: '127.0.0.1', servername, port, path: '/', ca, headers: { host: servername } }, (res) => {
          let body = '';
          res.on('data', (c: Buffer) => (body += c.toString()));
          res.on('end', () => resolve(body));
        });
        req.on('error', reject);
        req.end();
      });

    it('gives two replicas one CA, sealed in the store, and each its own serving certificate for its own names', async () => {
      const [dirA, dirB] = [dataDir(), dataDir()];
      const a = await start(dirA, { hostnames: ['cp-1.example.com'] });
      const b = await start(dirB, { hostnames: ['cp-2.example.com'] });
      expect(a.caKeptIn).toBe('store');
      expect(b.caFingerprint).toBe(a.caFingerprint);
      expect(b.caPem).toBe(a.caPem);
      expect(b.certPem).not.toBe(a.certPem);
      expect(b.keyPem).not.toBe(a.keyPem);
      expect(leafOf(a).checkHost('cp-1.example.com', { subject: 'never' })).toBe('cp-1.example.com');
      expect(leafOf(b).checkHost('cp-1.example.com', { subject: 'never' })).toBeUndefined();
      expect(leafOf(b).checkHost('cp-2.example.com', { subject: 'never' })).toBe('cp-2.example.com');

      // Sealed: no private key in the clear, in the store or in either data dir (only a copy of the CA certificate).
      const record = await store.getSecret(SHARED_CA_SECRET_ID);
      expect(record!.sealed).not.toMatch(/PRIVATE KEY|CERTIFICATE/);
      expect(JSON.parse(record!.sealed)).toMatchObject({ v: 1, kdf: 'scrypt' });
      for (const dir of [dirA, dirB]) {
        expect(tlsFiles(dir)).toEqual(['ca.pem', 'server-key.pem', 'server.pem']);
        expect(readFileSync(join(dir, 'tls', 'ca.pem'), 'utf8')).toBe(a.caPem);
      }

      // A client trusting what replica A hands out (its CA) is served by replica B, and by A.
      const portA = await serve(a);
      const portB = await serve(b);
      expect(await get(portB, 'cp-2.example.com', a.caPem)).toBe('ok');
      expect(await get(portA, 'cp-1.example.com', a.caPem)).toBe('ok');
      // A replica that made its own CA is refused by that client: the sharing is what makes B work.
      const loner = await legacyCa(dataDir());
      await expect(get(await serve(loner), 'localhost', a.caPem)).rejects.toThrow(/self.signed|unable to verify|certificate/i);

      // The next start of each replica reuses everything, with nothing to report.
      const again = await start(dirB, { hostnames: ['cp-2.example.com'], at: T0 + 86_400_000 });
      expect(again).toEqual(b);
      expect(again.notices).toEqual([]);
    });

    it("seals an existing data dir's CA on the first start with a master key: the fingerprint and serving certificate stay", async () => {
      const dirA = dataDir();
      const before = await legacyCa(dirA);
      expect(tlsFiles(dirA)).toContain('ca-key.pem');
      const after = await start(dirA);
      expect(after.caFingerprint).toBe(before.caFingerprint);
      expect(after.certPem).toBe(before.certPem);
      expect(after.notices.map((n) => [n.level, n.msg])).toEqual([['info', expect.stringMatching(/moved into the store.*fingerprint is unchanged/)]]);
      expect(tlsFiles(dirA)).toEqual(['ca.pem', 'server-key.pem', 'server.pem']);
      // Another replica joining later gets that CA.
      expect((await start(dataDir())).caFingerprint).toBe(before.caFingerprint);
    });

    it('lets the first of racing replicas win: the others use its CA', async () => {
      const fresh = [dataDir(), dataDir(), dataDir()];
      const made = await Promise.all(fresh.map((dir) => start(dir)));
      expect(new Set(made.map((t) => t.caFingerprint)).size).toBe(1);
      for (const t of made) expect(leafOf(t).verify(new X509Certificate(made[0]!.caPem).publicKey)).toBe(true);
    });

    it('racing replicas that each had a data-dir CA end on one; the losers re-issue their serving certificates', async () => {
      const dirs2 = [dataDir(), dataDir()];
      const legacy = await Promise.all(dirs2.map(legacyCa));
      const shared = await Promise.all(dirs2.map((dir) => start(dir)));
      expect(shared[1]!.caFingerprint).toBe(shared[0]!.caFingerprint);
      const winner = legacy.findIndex((l) => l.caFingerprint === shared[0]!.caFingerprint);
      expect(winner).toBeGreaterThanOrEqual(0);
      const loser = 1 - winner;
      expect(shared[winner]!.certPem).toBe(legacy[winner]!.certPem);
      expect(shared[loser]!.certPem).not.toBe(legacy[loser]!.certPem);
      expect(shared[loser]!.notices.map((n) => n.level)).toEqual(['warn']);
    });

    it("uses the store's CA over a different one in the data dir, moves that aside and says why old tokens fail", async () => {
      const [dirA, copied] = [dataDir(), dataDir()];
      const shared = await start(dirA);
      // A data dir from another deployment (or restored from an old backup) with its own CA.
      const foreign = await legacyCa(copied);
      const keyMode = statSync(join(copied, 'tls', 'ca-key.pem')).mode & 0o777;
      const tls = await start(copied, { hostnames: ['cp-9.example.com'] });
      expect(tls.caFingerprint).toBe(shared.caFingerprint);
      expect(leafOf(tls).verify(new X509Certificate(shared.caPem).publicKey)).toBe(true);
      expect(tls.certPem).not.toBe(foreign.certPem);
      expect(tls.notices).toHaveLength(1);
      const [notice] = tls.notices;
      expect(notice!.level).toBe('warn');
      expect(notice!.msg).toMatch(/store's CA .* is used/);
      expect(notice!.msg).toMatch(/Join tokens and agents that pin the old CA no longer trust this server: make new join tokens/);
      expect(notice!.msg).toContain(foreign.caFingerprint.slice(0, 16));
      expect(notice!.data).toMatchObject({ caFingerprint: shared.caFingerprint, replacedFingerprint: foreign.caFingerprint });

      // Nothing lost: the old CA and its key sit beside, the key still private.
      const aside = tlsFiles(copied).filter((f) => f.includes('superseded'));
      expect(aside).toHaveLength(2);
      const oldCert = aside.find((f) => f.startsWith('ca.superseded-'))!;
      const oldKey = aside.find((f) => f.startsWith('ca-key.superseded-'))!;
      expect(readFileSync(join(copied, 'tls', oldCert), 'utf8')).toBe(foreign.caPem);
      expect(statSync(join(copied, 'tls', oldKey)).mode & 0o777).toBe(keyMode);
      expect(readFileSync(join(copied, 'tls', 'ca.pem'), 'utf8')).toBe(shared.caPem);

      // Done once: the next start has nothing to say; a second foreign CA is set aside under another name.
      expect((await start(copied, { hostnames: ['cp-9.example.com'] })).notices).toEqual([]);
      writeFileSync(join(copied, 'tls', 'ca.pem'), foreign.caPem);
      expect((await start(copied)).notices.map((n) => n.level)).toEqual(['warn']);
      expect(tlsFiles(copied).filter((f) => f.includes('superseded'))).toHaveLength(3);
    });

    it('refuses a wrong master key, and no master key once the CA is sealed, saying which key', async () => {
      await start(dataDir());
      const wrong = await rejection(start(dataDir(), { masterKey: 'some other master key entirely' }));
      expect(wrong.code).toBe('failed_precondition');
      expect(wrong.message).toMatch(
        /the shared TLS CA .*'server-tls\.ca'.* cannot be opened: GPUFLEET_MASTER_KEY is not the master key it was sealed with.*set GPUFLEET_MASTER_KEY_PREVIOUS/,
      );
      const none = await rejection(start(dataDir(), { masterKey: undefined, replicated: false }));
      expect(none.code).toBe('failed_precondition');
      expect(none.message).toMatch(/TLS CA is sealed in the store.*set GPUFLEET_MASTER_KEY/);
      expect((await rejection(start(dataDir(), { masterKey: 'short' }))).message).toMatch(/at least 16 characters/);
    });

    it('survives a master key rotation: the previous key opens it once, it is sealed again under the new one, and the fingerprint stays', async () => {
      const NEW = 'the replicas rotated to this master key';
      const first = await start(dataDir());
      const before = (await store.getSecret(SHARED_CA_SECRET_ID))!.sealed;
      const rotated = await start(dataDir(), { masterKey: NEW, env: { GPUFLEET_MASTER_KEY_VERSION: '2', GPUFLEET_MASTER_KEY_PREVIOUS: MASTER } });
      expect(rotated.caFingerprint).toBe(first.caFingerprint);
      expect(rotated.notices).toEqual([
        expect.objectContaining({ level: 'info', msg: expect.stringMatching(/^the shared TLS CA was sealed with the previous master key/) }),
      ]);
      const after = (await store.getSecret(SHARED_CA_SECRET_ID))!.sealed;
      expect(after).not.toBe(before);
      expect(JSON.parse(openSecret(NEW, SHARED_CA_SECRET_ID, after).toString('utf8')).certPem).toBe(first.caPem);
      // The new key alone is enough now, on a replica that had not started since.
      const later = await start(dataDir(), { masterKey: NEW, env: { GPUFLEET_MASTER_KEY_VERSION: '2' } });
      expect(later.caFingerprint).toBe(first.caFingerprint);
      expect(later.notices).toEqual([]);
    });

    it('refuses replicas without a master key before making any CA; a single server without one keeps its data-dir CA', async () => {
      const dir = dataDir();
      const refused = await rejection(start(dir, { masterKey: undefined, replicated: true }));
      expect(refused.code).toBe('failed_precondition');
      expect(refused.message).toMatch(/replicas \(--bus\) serve TLS from one CA sealed in the store.*set GPUFLEET_MASTER_KEY, the same on every replica/);
      expect(existsSync(join(dir, 'tls', 'ca.pem'))).toBe(false);

      const single = await start(dir, { masterKey: '', replicated: false });
      expect(single.caKeptIn).toBe('data-dir');
      expect(tlsFiles(dir)).toEqual(['ca-key.pem', 'ca.pem', 'server-key.pem', 'server.pem']);
      expect(await store.getSecret(SHARED_CA_SECRET_ID)).toBeUndefined();
    });

    it('refuses a data dir holding only the copy of a CA whose sealed key this store lacks', async () => {
      const dir = dataDir();
      await start(dir);
      await cleanup();
      ({ store, cleanup } = await open());
      await store.migrate();
      const err = await rejection(start(dir));
      expect(err.code).toBe('failed_precondition');
      expect(err.message).toMatch(/holds only a copy of a TLS CA .* whose key was sealed in a store, but this store holds no sealed CA/);
      expect(await store.getSecret(SHARED_CA_SECRET_ID)).toBeUndefined();
    });

    describe('a damaged sealed record is refused with a clear error, and the data dir is left alone', () => {
      const cases: Array<[string, () => Promise<string>, RegExp]> = [
        ['not JSON', async () => 'this is not a sealed record', /is damaged \(not a sealed record this version understands\)/],
        [
          'sealed, but not a CA',
          async () => JSON.stringify(sealSecret(MASTER, SHARED_CA_SECRET_ID, 'hello')),
          /is damaged \(its content is not a CA certificate and key\)/,
        ],
        [
          'a key of another CA',
          async () => {
            const one = await legacyCa(dataDir());
            const two = dataDir();
            await legacyCa(two);
            const keyOfTwo = readFileSync(join(two, 'tls', 'ca-key.pem'), 'utf8');
            return JSON.stringify(sealSecret(MASTER, SHARED_CA_SECRET_ID, JSON.stringify({ v: 1, certPem: one.caPem, keyPem: keyOfTwo })));
          },
          /is damaged \(its key does not belong to its certificate\)/,
        ],
        [
          'altered ciphertext',
          async () => {
            const sealed = sealSecret(MASTER, SHARED_CA_SECRET_ID, JSON.stringify({ v: 1, certPem: 'x', keyPem: 'y' }));
            const ct = Buffer.from(sealed.ct, 'base64url');
            ct[0] = ct[0]! ^ 1;
            return JSON.stringify({ ...sealed, ct: ct.toString('base64url') });
          },
          /cannot be opened: .*or the record was altered/,
        ],
        ['sealed for another record', async () => JSON.stringify(sealSecret(MASTER, 'server-identity.ed25519', 'x')), /cannot be opened/],
      ];
      for (const [what, sealed, message] of cases) {
        it(what, async () => {
          await store.insertSecret({ id: SHARED_CA_SECRET_ID, sealed: await sealed(), createdAt: T0 });
          const dir = dataDir();
          const before = await legacyCa(dir);
          const err = await rejection(start(dir));
          expect(err.code).toBe('failed_precondition');
          expect(err.message).toMatch(message);
          expect(err.message).toMatch(/the shared TLS CA/);
          // The data dir's own CA is neither moved nor replaced.
          expect(tlsFiles(dir)).toEqual(['ca-key.pem', 'ca.pem', 'server-key.pem', 'server.pem']);
          expect(readFileSync(join(dir, 'tls', 'ca.pem'), 'utf8')).toBe(before.caPem);
        });
      }
    });
  });
}
