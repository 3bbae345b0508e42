/** FindCoordinator (key 10): this node coordinates every group; there is no transaction coordinator. */

import type { Coordinator } from "../../../protocol/generated/find-coordinator-response.ts";
import { apis, type FindCoordinatorResponse } from "../../../protocol/generated/index.ts";
import { liveBrokers } from "./cluster-metadata.ts";
import { code } from "./common.ts";
import { defineHandler } from "./types.ts";

const KEY_GROUP = 0;
const KEY_TRANSACTION = 1;

/** Java's String.hashCode, made non-negative (as Kafka's partitionFor uses Utils.abs). */
function groupHash(key: string): number {
  let h = 0;
  for (let i = 0; i < key.length; i++) h = (Math.imul(31, h) + key.charCodeAt(i)) | 0;
  return h & 0x7fffffff;
}

export const findCoordinator = defineHandler(
  apis.FindCoordinator,
  0,
  6,
  (ctx, req): FindCoordinatorResponse => {
    const b = ctx.broker;
    const keyType = req.keyType ?? KEY_GROUP;
    const answer = (key: string): Coordinator => {
      const c: Coordinator = {
        key,
        nodeId: b.nodeId,
        host: b.advertisedHost,
        port: b.advertisedPort,
        errorCode: 0,
        errorMessage: null,
      };
      if (b.cluster && keyType === KEY_GROUP) {
        // Cluster mode: a deterministic coordinator per group among the live brokers, so every member
        // of a group meets on one node (group state is not replicated yet: it moves if that node dies).
        const live = liveBrokers(b.cluster.image);
        const pick = live[groupHash(key) % Math.max(1, live.length)];
        if (pick) Object.assign(c, { nodeId: pick.nodeId, host: pick.host, port: pick.port });
        else {
          Object.assign(c, { nodeId: -1, host: "", port: -1, errorCode: code("COORDINATOR_NOT_AVAILABLE") });
          c.errorMessage = "The coordinator is not available.";
        }
      } else if (keyType === KEY_TRANSACTION) {
        Object.assign(c, { nodeId: -1, host: "", port: -1, errorCode: code("COORDINATOR_NOT_AVAILABLE") });
        c.errorMessage = "The coordinator is not available.";
      } else if (keyType !== KEY_GROUP) {
        Object.assign(c, { nodeId: -1, host: "", port: -1, errorCode: code("INVALID_REQUEST") });
        c.errorMessage = `Unsupported key type ${keyType}`;
      }
      return c;
    };
    if (ctx.apiVersion >= 4) {
      return { throttleTimeMs: 0, coordinators: (req.coordinatorKeys ?? []).map(answer) };
    }
    const c = answer(req.key ?? "");
    return {
      throttleTimeMs: 0,
      errorCode: c.errorCode,
      errorMessage: c.errorMessage,
      nodeId: c.nodeId,
      host: c.host,
      port: c.port,
    };
  },
  { groupApi: true },
);
