/**
 * InitProducerId (key 22) for idempotent producers: every call allocates a fresh producer id at
 * epoch 0, as Kafka's coordinator does when there is no transactional id. Transactions are not
 * supported (their APIs are not advertised), so a transactional id gets COORDINATOR_NOT_AVAILABLE.
 */
import { apis, type InitProducerIdResponse } from "../../../protocol/generated/index.ts";
import { code } from "./common.ts";
import { defineHandler } from "./types.ts";

export const initProducerId = defineHandler(
  apis.InitProducerId,
  0,
  5,
  async (ctx, req): Promise<InitProducerIdResponse> => {
    if (req.transactionalId !== null) {
      return {
        throttleTimeMs: 0,
        errorCode: code("COORDINATOR_NOT_AVAILABLE"),
        producerId: -1n,
        producerEpoch: -1,
      };
    }
    const producerId = await ctx.broker.allocateProducerId();
    ctx.log.debug({ producerId: String(producerId), clientId: ctx.clientId }, "producer id allocated");
    return { throttleTimeMs: 0, errorCode: 0, producerId, producerEpoch: 0 };
  },
);
