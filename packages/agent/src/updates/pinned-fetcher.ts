import { request as httpRequest, type IncomingMessage } from 'node:http';
import { request as httpsRequest } from 'node:https';
import { BaseFetcher } from 'tuf-js';
import { DownloadHTTPError } from 'tuf-js/dist/error.js';
import { networkError } from '../runtime/http-request.js';

/**
 * A tuf-js Fetcher that reaches the control plane like the agent link does: https with only the
 * CA pinned at join trusted (plain http on a loopback server without a CA). tuf-js bounds each
 * download by the length the metadata allows and checks every byte it gets.
 */
export class PinnedFetcher extends BaseFetcher {
  constructor(private readonly o: { caPem: string | null; timeoutMs?: number }) {
    super();
  }

  override fetch(url: string): Promise<NodeJS.ReadableStream> {
    return new Promise((resolve, reject) => {
      const target = new URL(url);
      const https = target.protocol === 'https:';
      const send = https ? httpsRequest : httpRequest;
      const req = send(
        target,
        { method: 'GET', timeout: this.o.timeoutMs ?? 60_000, ...(https && this.o.caPem ? { ca: this.o.caPem } : {}) },
        (res: IncomingMessage) => {
          if (res.statusCode !== 200) {
            res.resume();
            reject(new DownloadHTTPError(`GET ${target.pathname} answered HTTP ${res.statusCode}`, res.statusCode ?? 0));
            return;
          }
          resolve(res);
        },
      );
      req.on('timeout', () => req.destroy(new Error('timed out')));
      req.on('error', (err) => reject(networkError(target, err)));
      req.end();
    });
  }
}
