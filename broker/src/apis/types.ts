/** The shape of one API implementation: a codec entry, the versions implemented, and a handler. */
import type { Logger } from "pino";
import type { ApiDefinition } from "../../../protocol/generated/index.ts";
import type { Broker } from "../broker.ts";
import type { Connection } from "../network/connection.ts";

export interface RequestContext {
  broker: Broker;
  connection: Connection;
  apiVersion: number;
  correlationId: number;
  clientId: string | null;
  log: Logger;
  /**
   * Lets the connection start its next Produce before this request has answered (see
   * network/connection.ts); a Produce calls it once every partition's records are appended.
   */
  releaseConnection?: () => void;
}

export interface ApiHandler<Req = unknown, Res = unknown> {
  api: ApiDefinition<Req, Res>;
  /** Versions this broker implements (advertised in ApiVersions, intersected with the codec's). */
  minVersion: number;
  maxVersion: number;
  /** Returns the response body, or null when Kafka sends no response (Produce with acks=0). */
  handle(ctx: RequestContext, request: Req): Promise<Res | null> | Res | null;
  /** Group-coordinator APIs are only advertised when broker/groups is available. */
  groupApi?: boolean;
}

export function defineHandler<Req, Res>(
  api: ApiDefinition<Req, Res>,
  minVersion: number,
  maxVersion: number,
  handle: ApiHandler<Req, Res>["handle"],
  options: { groupApi?: boolean } = {},
): ApiHandler<Req, Res> {
  return { api, minVersion, maxVersion, handle, ...options };
}
