import { FleetError } from '@gpufleet/protocol';

/**
 * The URL agents and CLIs use: the configured public URL, else the address the server listens
 * on, known once it listens (the HTTP listener sets it). Join tokens carry it; alert links use it.
 */
export class PublicUrl {
  private url: string | null;

  constructor(configured: string | null) {
    this.url = configured;
  }

  /** Set by the listener once the port is known (a configured public URL wins). */
  listening(url: string): void {
    this.url ??= url;
  }

  /** The URL, or null before the server listens. */
  known(): string | null {
    return this.url;
  }

  /** The URL; unavailable before the server listens. */
  get(): string {
    if (this.url === null) throw new FleetError('unavailable', 'the control plane does not listen yet, so its URL is not known');
    return this.url;
  }
}
