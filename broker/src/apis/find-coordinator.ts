/** FindCoordinator (key 10): this node coordinates every group; there is no transaction coordinator. */

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
      if (keyType === KEY_TRANSACTION) {
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
