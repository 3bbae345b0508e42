/**
 * The dispatcher table: API key → handler. Everything in the table is advertised by ApiVersions at
 * the intersection of the handler's and the codec's version ranges; everything else is unknown to
 * the broker (a request for it closes the connection, as Kafka does).
 */
import type { ApiVersion } from "../../protocol/generated/api-versions-response.ts";
import type { ApiHandler } from "./apis/types.ts";

export class Dispatcher {
  private readonly byKey = new Map<number, ApiHandler>();

  constructor(handlers: ApiHandler[]) {
    for (const h of handlers) {
      if (this.byKey.has(h.api.apiKey)) throw new Error(`two handlers for API ${h.api.name}`);
      const min = Math.max(h.minVersion, h.api.minVersion);
      const codecMax = h.api.latestVersionUnstable ? h.api.maxVersion - 1 : h.api.maxVersion;
      const max = Math.min(h.maxVersion, codecMax);
      if (min > max) throw new Error(`handler for ${h.api.name} has no version the codec supports`);
      this.byKey.set(h.api.apiKey, { ...h, minVersion: min, maxVersion: max });
    }
  }

  get(apiKey: number): ApiHandler | undefined {
    return this.byKey.get(apiKey);
  }

  supports(apiKey: number, version: number): boolean {
    const h = this.byKey.get(apiKey);
    return h !== undefined && version >= h.minVersion && version <= h.maxVersion;
  }

  advertised(): ApiVersion[] {
    return [...this.byKey.values()]
      .sort((a, b) => a.api.apiKey - b.api.apiKey)
      .map((h) => ({ apiKey: h.api.apiKey, minVersion: h.minVersion, maxVersion: h.maxVersion }));
  }
}
