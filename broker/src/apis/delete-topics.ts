/** DeleteTopics (key 20): by name (v0-5) or by name or topic id (v6+). */

import type { DeletableTopicResult } from "../../../protocol/generated/delete-topics-response.ts";
import { apis, type DeleteTopicsResponse } from "../../../protocol/generated/index.ts";
import { forwardToController } from "./cluster-forward.ts";
import { code, ZERO_UUID } from "./common.ts";
import { defineHandler } from "./types.ts";

export const deleteTopics = defineHandler(
  apis.DeleteTopics,
  1,
  6,
  async (ctx, req): Promise<DeleteTopicsResponse> => {
    if (ctx.broker.cluster) return forwardToController(ctx, apis.DeleteTopics as never, "deleteTopics", req);
    const v = ctx.apiVersion;
    const topics = ctx.broker.topics;
    const wanted: { name: string | null; id: string }[] =
      v >= 6
        ? (req.topics ?? []).map((t) => ({ name: t.name, id: t.topicId }))
        : (req.topicNames ?? []).map((n) => ({ name: n, id: ZERO_UUID }));
    const responses: DeletableTopicResult[] = [];
    await topics.adminMutex.run(async () => {
      for (const w of wanted) {
        const r: DeletableTopicResult = { name: w.name, errorCode: 0 };
        if (v >= 6) r.topicId = w.id;
        if (v >= 5) r.errorMessage = null;
        const byName = w.name !== null;
        const byId = w.id !== ZERO_UUID;
        if (byName === byId) {
          r.errorCode = code("INVALID_REQUEST");
          if (v >= 5) r.errorMessage = "Neither topic name nor id were specified.";
          if (byName) r.errorMessage = "You may not specify both topic name and topic id.";
          responses.push(r);
          continue;
        }
        const rt = byName ? topics.get(w.name!) : topics.getById(w.id);
        if (!rt) {
          r.errorCode = byName ? code("UNKNOWN_TOPIC_OR_PARTITION") : code("UNKNOWN_TOPIC_ID");
          if (v >= 5)
            r.errorMessage = byName
              ? "This server does not host this topic-partition."
              : "This server does not host this topic ID.";
          responses.push(r);
          continue;
        }
        r.name = rt.meta.name;
        if (v >= 6) r.topicId = rt.meta.id;
        try {
          await topics.delete(rt.meta.name);
          // Waiting fetches of this topic return (with UNKNOWN_TOPIC_OR_PARTITION on their next look).
          for (const p of rt.partitions) ctx.broker.notifier.notify(rt.meta.name, p.index);
        } catch (e) {
          ctx.log.error({ err: e, topic: rt.meta.name }, "topic deletion failed");
          r.errorCode = code("UNKNOWN_SERVER_ERROR");
        }
        responses.push(r);
      }
    });
    return { throttleTimeMs: 0, responses };
  },
);
