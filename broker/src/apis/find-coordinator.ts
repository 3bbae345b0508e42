/**
 * FindCoordinator (key 10). Single node: this node coordinates every group. Cluster mode: a group's
 * coordinator is the leader of its `__consumer_offsets` partition (created on first use;
 * COORDINATOR_NOT_AVAILABLE while it has no leader). There is no transaction coordinator.
 */

import type { Coordinator } from "../../../protocol/generated/find-coordinator-response.ts";
import { apis, type FindCoordinatorResponse } from "../../../protocol/generated/index.ts";
import { code } from "./common.ts";
import { defineHandler } from "./types.ts";

const KEY_GROUP = 0;
const KEY_TRANSACTION = 1;

export const findCoordinator = defineHandler(
  apis.FindCoordinator,
  0,
  6,
  async (ctx, req): Promise<FindCoordinatorResponse> => {
    const b = ctx.broker;
    const keyType = req.keyType ?? KEY_GROUP;
    const answer = async (key: string): Promise<Coordinator> => {
      const c: Coordinator = {
        key,
        nodeId: b.nodeId,
        host: b.advertisedHost,
        port: b.advertisedPort,
        errorCode: 0,
        errorMessage: null,
      };
      const partitions = b.groups.partitions;
      if (partitions && keyType === KEY_GROUP) {
        const found = await partitions.findCoordinator(key);
        if (found.ok) Object.assign(c, { nodeId: found.nodeId, host: found.host, port: found.port });
        else {
          Object.assign(c, { nodeId: -1, host: "", port: -1, errorCode: found.errorCode });
          c.errorMessage = found.message;
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
      return { throttleTimeMs: 0, coordinators: await Promise.all((req.coordinatorKeys ?? []).map(answer)) };
    }
    const c = await answer(req.key ?? "");
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
