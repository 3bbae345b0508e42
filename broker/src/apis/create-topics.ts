/** CreateTopics (key 19): Kafka's validation order and error codes, validateOnly, configs. */

import type { CreatableTopic } from "../../../protocol/generated/create-topics-request.ts";
import type {
  CreatableTopicConfigs,
  CreatableTopicResult,
} from "../../../protocol/generated/create-topics-response.ts";
import { apis, type CreateTopicsResponse } from "../../../protocol/generated/index.ts";
import { TOPIC_CONFIGS, validateTopicConfigs } from "../state/topic-config.ts";
import { invalidTopicName } from "../state/topics.ts";
import { forwardToController } from "./cluster-forward.ts";
import { code, ZERO_UUID } from "./common.ts";
import { defineHandler, type RequestContext } from "./types.ts";

/** DescribeConfigs config sources: DYNAMIC_TOPIC_CONFIG = 1, DEFAULT_CONFIG = 5. */
export const SOURCE_TOPIC = 1;
export const SOURCE_DEFAULT = 5;

export function describedConfigs(overrides: Record<string, string>): CreatableTopicConfigs[] {
  return [...TOPIC_CONFIGS.values()].map((d) => ({
    name: d.name,
    value: overrides[d.name] ?? d.defaultValue,
    readOnly: false,
    configSource: d.name in overrides ? SOURCE_TOPIC : SOURCE_DEFAULT,
    isSensitive: false,
  }));
}

type Plan =
  | { ok: true; partitions: number; configs: Record<string, string> }
  | { ok: false; error: number; message: string };

function plan(ctx: RequestContext, t: CreatableTopic): Plan {
  const b = ctx.broker;
  const bad = invalidTopicName(t.name);
  if (bad) return { ok: false, error: code("INVALID_TOPIC_EXCEPTION"), message: bad };
  if (b.topics.get(t.name)) {
    return { ok: false, error: code("TOPIC_ALREADY_EXISTS"), message: `Topic '${t.name}' already exists.` };
  }
  const other = b.topics.collidesWith(t.name);
  if (other !== undefined) {
    return {
      ok: false,
      error: code("INVALID_TOPIC_EXCEPTION"),
      message: `Topic '${t.name}' collides with existing topic: ${other}`,
    };
  }
  let partitions: number;
  if (t.assignments.length > 0) {
    if (t.numPartitions !== -1) {
      return {
        ok: false,
        error: code("INVALID_REQUEST"),
        message: "A manual partition assignment was specified, but numPartitions was not set to -1.",
      };
    }
    if (t.replicationFactor !== -1) {
      return {
        ok: false,
        error: code("INVALID_REQUEST"),
        message: "A manual partition assignment was specified, but replicationFactor was not set to -1.",
      };
    }
    const seen = new Set<number>();
    for (const a of t.assignments) {
      if (a.brokerIds.length === 0) {
        return {
          ok: false,
          error: code("INVALID_REPLICA_ASSIGNMENT"),
          message: `An empty replica list was specified for partition ${a.partitionIndex}.`,
        };
      }
      if (new Set(a.brokerIds).size !== a.brokerIds.length) {
        return {
          ok: false,
          error: code("INVALID_REPLICA_ASSIGNMENT"),
          message: `Duplicate replica assignment for partition ${a.partitionIndex}.`,
        };
      }
      for (const id of a.brokerIds) {
        if (id !== b.nodeId) {
          return {
            ok: false,
            error: code("INVALID_REPLICA_ASSIGNMENT"),
            message: `The manual partition assignment includes broker ${id}, but no such broker is registered.`,
          };
        }
      }
      seen.add(a.partitionIndex);
    }
    for (let i = 0; i < t.assignments.length; i++) {
      if (!seen.has(i)) {
        return {
          ok: false,
          error: code("INVALID_REPLICA_ASSIGNMENT"),
          message: "Partitions in the manual partition assignment must be contiguous and start at 0.",
        };
      }
    }
    partitions = t.assignments.length;
  } else {
    partitions = t.numPartitions === -1 ? b.settings.numPartitions : t.numPartitions;
    if (partitions <= 0) {
      return {
        ok: false,
        error: code("INVALID_PARTITIONS"),
        message: "Number of partitions was set to an invalid non-positive value.",
      };
    }
    const rf = t.replicationFactor === -1 ? 1 : t.replicationFactor;
    if (rf <= 0) {
      return {
        ok: false,
        error: code("INVALID_REPLICATION_FACTOR"),
        message: "Replication factor must be larger than 0, or -1 to use the default value.",
      };
    }
    if (rf > 1) {
      return {
        ok: false,
        error: code("INVALID_REPLICATION_FACTOR"),
        message: `Unable to replicate the partition ${rf} time(s): The target replication factor of ${rf} cannot be reached because only 1 broker(s) are registered.`,
      };
    }
  }
  const cfg = validateTopicConfigs(t.configs.map((c) => ({ name: c.name, value: c.value })));
  if (!cfg.ok) return { ok: false, error: code(cfg.error), message: cfg.message };
  return { ok: true, partitions, configs: cfg.configs };
}

export const createTopics = defineHandler(
  apis.CreateTopics,
  2,
  7,
  async (ctx, req): Promise<CreateTopicsResponse> => {
    if (ctx.broker.cluster) return forwardToController(ctx, apis.CreateTopics as never, "createTopics", req);
    const v = ctx.apiVersion;
    const counts = new Map<string, number>();
    for (const t of req.topics) counts.set(t.name, (counts.get(t.name) ?? 0) + 1);
    const results: CreatableTopicResult[] = [];
    const failed = (name: string, error: number, message: string): CreatableTopicResult => {
      const r: CreatableTopicResult = { name, errorCode: error, errorMessage: message };
      if (v >= 5) {
        r.numPartitions = -1;
        r.replicationFactor = -1;
        r.configs = [];
        r.topicConfigErrorCode = 0;
      }
      if (v >= 7) r.topicId = ZERO_UUID;
      return r;
    };
    const reportedDuplicates = new Set<string>();
    await ctx.broker.topics.adminMutex.run(async () => {
      for (const t of req.topics) {
        if (counts.get(t.name)! > 1) {
          if (!reportedDuplicates.has(t.name)) {
            reportedDuplicates.add(t.name);
            results.push(
              failed(
                t.name,
                code("INVALID_REQUEST"),
                `Create topics request from client contains multiple entries for the following topics: ${t.name}`,
              ),
            );
          }
          continue;
        }
        const p = plan(ctx, t);
        if (!p.ok) {
          results.push(failed(t.name, p.error, p.message));
          continue;
        }
        let topicId = ZERO_UUID;
        if (!req.validateOnly) {
          try {
            const rt = await ctx.broker.topics.create(t.name, p.partitions, p.configs);
            topicId = rt.meta.id;
          } catch (e) {
            ctx.log.error({ err: e, topic: t.name }, "topic creation failed");
            results.push(failed(t.name, code("UNKNOWN_SERVER_ERROR"), (e as Error).message));
            continue;
          }
        }
        const r: CreatableTopicResult = { name: t.name, errorCode: 0, errorMessage: null };
        if (v >= 5) {
          r.numPartitions = p.partitions;
          r.replicationFactor = 1;
          r.configs = describedConfigs(p.configs);
          r.topicConfigErrorCode = 0;
        }
        if (v >= 7) r.topicId = topicId;
        results.push(r);
      }
    });
    return { throttleTimeMs: 0, topics: results };
  },
);
