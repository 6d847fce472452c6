import { serverUrlListProblem, serverUrlProblem } from '@gpufleet/protocol';
import { UsageError } from '../errors.js';

/**
 * `--server-urls https://a:7420,https://b:7421`: the control plane's replicas, in the order
 * agents try them. Checked here with the protocol's own rules, so a typo is a usage error before
 * any request rather than a token no host can use.
 */
export function parseServerUrlsOption(text: string): string[] {
  const urls = text.split(',').map((u) => u.trim());
  const empty = urls.indexOf('');
  if (empty >= 0) throw new UsageError(`--server-urls: entry #${empty + 1} is empty (give URLs separated by commas, e.g. https://a:7420,https://b:7421)`);
  for (const url of urls) {
    // A bare host:port parses as a URL with an odd scheme; say what is missing instead.
    if (!/^[a-z][a-z0-9+.-]*:\/\//i.test(url)) throw new UsageError(`--server-urls: '${url}' needs a scheme, e.g. https://${url}`);
    const problem = serverUrlProblem(url);
    if (problem) throw new UsageError(`--server-urls: ${problem}`);
  }
  const problem = serverUrlListProblem(urls);
  if (problem) throw new UsageError(`--server-urls: ${problem}`);
  return urls;
}
