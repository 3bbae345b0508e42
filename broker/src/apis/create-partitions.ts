/** CreatePartitions (key 37): grow a topic's partition count. */

import type { CreatePartitionsTopicResult } from "../../../protocol/generated/create-partitions-response.ts";
import { apis, type CreatePartitionsResponse } from "../../../protocol/generated/index.ts";
import { forwardToController } from "./cluster-forward.ts";
import { code } from "./common.ts";
import { defineHandler } from "./types.ts";

export const createPartitions = defineHandler(
  apis.CreatePartitions,
  0,
  3,
  async (ctx, req): Promise<CreatePartitionsResponse> => {
    if (ctx.broker.cluster)
      return forwardToController(ctx, apis.CreatePartitions as never, "createPartitions", req);
    const topics = ctx.broker.topics;
    const counts = new Map<string, number>();
    for (const t of req.topics) counts.set(t.name, (counts.get(t.name) ?? 0) + 1);
    const results: CreatePartitionsTopicResult[] = [];
    const reported = new Set<string>();
    await topics.adminMutex.run(async () => {
      for (const t of req.topics) {
        const fail = (error: number, message: string): void => {
          results.push({ name: t.name, errorCode: error, errorMessage: message });
        };
        if (counts.get(t.name)! > 1) {
          if (!reported.has(t.name)) {
            reported.add(t.name);
            fail(code("INVALID_REQUEST"), "Duplicate topic in request.");
          }
          continue;
        }
        const rt = topics.get(t.name);
        if (!rt) {
          fail(code("UNKNOWN_TOPIC_OR_PARTITION"), "This server does not host this topic-partition.");
          continue;
        }
        const current = rt.partitions.length;
        if (t.count < current) {
          fail(
            code("INVALID_PARTITIONS"),
            `The topic ${t.name} currently has ${current} partition(s); ${t.count} would not be an increase.`,
          );
          continue;
        }
        if (t.count === current) {
          fail(code("INVALID_PARTITIONS"), `Topic already has ${current} partition(s).`);
          continue;
        }
        if (t.assignments !== null) {
          if (t.assignments.length !== t.count - current) {
            fail(
              code("INVALID_REPLICA_ASSIGNMENT"),
              `Attempted to add ${t.count - current} additional partition(s), but only ${t.assignments.length} assignment(s) were specified.`,
            );
            continue;
          }
          const bad = t.assignments.find(
            (a) => a.brokerIds.length !== 1 || a.brokerIds[0] !== ctx.broker.nodeId,
          );
          if (bad) {
            const rf = bad.brokerIds.length;
            if (rf !== 1) {
              fail(
                code("INVALID_REPLICA_ASSIGNMENT"),
                `The manual partition assignment includes a partition with ${rf} replica(s), but this is not consistent with previous partitions, which have 1 replica(s).`,
              );
            } else {
              fail(
                code("INVALID_REPLICA_ASSIGNMENT"),
                `The manual partition assignment includes broker ${bad.brokerIds[0]}, but no such broker is registered.`,
              );
            }
            continue;
          }
        }
        if (!req.validateOnly) {
          try {
            await topics.addPartitions(t.name, t.count);
          } catch (e) {
            ctx.log.error({ err: e, topic: t.name }, "partition creation failed");
            fail(code("UNKNOWN_SERVER_ERROR"), (e as Error).message);
            continue;
          }
        }
        results.push({ name: t.name, errorCode: 0, errorMessage: null });
      }
    });
    return { throttleTimeMs: 0, results };
  },
);
