import { chmodSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import type { Clock } from '../clock.js';
import type { Store } from '../store/store.js';
import type { ApiTokenService } from '../auth/api-tokens.js';
import type { AuditLog } from '../services/audit-log.js';

const ADMIN_CREATED = 'bootstrap.admin-token-created';

/** The first start's admin token: shown once, and kept 0600 in the data dir for the local CLI. */
export class AdminBootstrap {
  /** The token, only on the very first start. */
  adminToken: string | null = null;
  readonly adminTokenFile: string;

  constructor(private readonly o: { dataDir: string; store: Store; apiTokens: ApiTokenService; audit: AuditLog; clock: Clock }) {
    this.adminTokenFile = join(o.dataDir, 'admin-token');
  }

  /** Creates the token unless an earlier start did; audited (no request carries this action). */
  async run(): Promise<void> {
    if ((await this.o.store.getSetting(ADMIN_CREATED)) !== undefined) return;
    this.adminToken = (await this.o.apiTokens.create('bootstrap-admin', 'admin')).token;
    writeFileSync(this.adminTokenFile, `${this.adminToken}\n`, { mode: 0o600 });
    chmodSync(this.adminTokenFile, 0o600);
    await this.o.store.setSetting(ADMIN_CREATED, new Date(this.o.clock.now()).toISOString());
    await this.o.audit.record({ actor: 'system', action: 'api-token.bootstrap', target: null, result: 'ok', details: { file: this.adminTokenFile } });
  }
}
