/**
 * DescribeConfigs (key 32), AlterConfigs (key 33, the legacy full-replacement API) and
 * IncrementalAlterConfigs (key 44) for TOPIC resources (the configs in state/topic-config.ts,
 * persisted with the topic) and, read-only, the BROKER resource. In cluster mode both alter APIs go to
 * the active controller (AlterConfigs as the equivalent SETs and DELETEs, after the same checks).
 */

import type {
  DescribeConfigsResourceResult,
  DescribeConfigsResult,
} from "../../../protocol/generated/describe-configs-response.ts";
import type { IncrementalAlterConfigsRequest } from "../../../protocol/generated/incremental-alter-configs-request.ts";
import type { AlterConfigsResourceResponse } from "../../../protocol/generated/incremental-alter-configs-response.ts";
import {
  type AlterConfigsResponse,
  apis,
  type DescribeConfigsResponse,
  type IncrementalAlterConfigsResponse,
} from "../../../protocol/generated/index.ts";
import { TOPIC_CONFIGS, validateTopicConfigs } from "../state/topic-config.ts";
import { invalidTopicName } from "../state/topics.ts";
import { forwardToController } from "./cluster-forward.ts";
import { code } from "./common.ts";
import { defineHandler, type RequestContext } from "./types.ts";

const RESOURCE_TOPIC = 2;
const RESOURCE_BROKER = 4;

interface ConfigResource {
  resourceType: number;
  resourceName: string;
}

/** A predicate for resources named more than once in one request (Kafka rejects each of them). */
function duplicateResources(resources: ConfigResource[]): (res: ConfigResource) => boolean {
  const key = (r: ConfigResource) => `${r.resourceType}\u0000${r.resourceName}`;
  const seen = new Map<string, number>();
  for (const r of resources) seen.set(key(r), (seen.get(key(r)) ?? 0) + 1);
  return (r) => (seen.get(key(r)) ?? 0) > 1;
}

/** The checks both AlterConfigs flavours make before looking at a resource's configs. */
function resourceTypeError(
  res: ConfigResource,
  isDuplicate: (res: ConfigResource) => boolean,
): { error: Parameters<typeof code>[0]; message: string } | undefined {
  if (isDuplicate(res))
    return { error: "INVALID_REQUEST", message: "Error due to duplicate resource in the request" };
  if (res.resourceType === RESOURCE_BROKER) {
    return { error: "INVALID_REQUEST", message: "This broker does not support dynamic broker configs" };
  }
  if (res.resourceType !== RESOURCE_TOPIC) {
    return { error: "INVALID_REQUEST", message: `Unsupported resource type ${res.resourceType}` };
  }
  return undefined;
}

/** ConfigSource: DYNAMIC_TOPIC_CONFIG 1, STATIC_BROKER_CONFIG 4, DEFAULT_CONFIG 5. */
const SOURCE_TOPIC = 1;
const SOURCE_STATIC_BROKER = 4;
const SOURCE_DEFAULT = 5;

/** IncrementalAlterConfigs operations. */
const OP_SET = 0;
const OP_DELETE = 1;
const OP_APPEND = 2;
const OP_SUBTRACT = 3;

function brokerConfigs(ctx: RequestContext): { name: string; value: string; type: number; doc: string }[] {
  const s = ctx.broker.settings;
  return [
    { name: "node.id", value: String(s.nodeId), type: 3, doc: "the broker id" },
    { name: "broker.id", value: String(s.nodeId), type: 3, doc: "the broker id" },
    { name: "broker.rack", value: s.rack ?? "", type: 2, doc: "rack of the broker" },
    {
      name: "auto.create.topics.enable",
      value: String(s.autoCreateTopics),
      type: 1,
      doc: "auto-create topics",
    },
    { name: "num.partitions", value: String(s.numPartitions), type: 3, doc: "default partition count" },
    { name: "default.replication.factor", value: "1", type: 3, doc: "default replication factor" },
    { name: "socket.request.max.bytes", value: String(s.maxFrameBytes), type: 3, doc: "largest request" },
    { name: "message.max.bytes", value: "1048588", type: 3, doc: "largest record batch" },
    { name: "log.retention.ms", value: "604800000", type: 5, doc: "default retention.ms" },
    { name: "min.insync.replicas", value: "1", type: 3, doc: "default min.insync.replicas" },
  ];
}

export const describeConfigs = defineHandler(
  apis.DescribeConfigs,
  1,
  4,
  (ctx, req): DescribeConfigsResponse => {
    const v = ctx.apiVersion;
    const results: DescribeConfigsResult[] = req.resources.map((res): DescribeConfigsResult => {
      const result: DescribeConfigsResult = {
        errorCode: 0,
        errorMessage: null,
        resourceType: res.resourceType,
        resourceName: res.resourceName,
        configs: [],
      };
      const wanted = (name: string): boolean =>
        res.configurationKeys === null || res.configurationKeys.includes(name);
      const entry = (
        name: string,
        value: string,
        source: number,
        readOnly: boolean,
        type: number,
        doc: string,
      ): DescribeConfigsResourceResult => {
        const e: DescribeConfigsResourceResult = { name, value, readOnly, isSensitive: false };
        if (v === 0) e.isDefault = source === SOURCE_DEFAULT;
        else e.configSource = source;
        if (v >= 1) e.synonyms = req.includeSynonyms ? [{ name, value, source }] : [];
        if (v >= 3) {
          e.configType = type;
          e.documentation = req.includeDocumentation ? doc : null;
        }
        return e;
      };
      if (res.resourceType === RESOURCE_TOPIC) {
        const bad = invalidTopicName(res.resourceName);
        if (bad) {
          result.errorCode = code("INVALID_TOPIC_EXCEPTION");
          result.errorMessage = bad;
          return result;
        }
        const rt = ctx.broker.topics.get(res.resourceName);
        if (!rt) {
          result.errorCode = code("UNKNOWN_TOPIC_OR_PARTITION");
          result.errorMessage = `Topic ${res.resourceName} does not exist.`;
          return result;
        }
        for (const d of TOPIC_CONFIGS.values()) {
          if (!wanted(d.name)) continue;
          const override = rt.meta.configs[d.name];
          result.configs.push(
            entry(
              d.name,
              override ?? d.defaultValue,
              override !== undefined ? SOURCE_TOPIC : SOURCE_DEFAULT,
              false,
              d.type,
              d.documentation,
            ),
          );
        }
        return result;
      }
      if (res.resourceType === RESOURCE_BROKER) {
        if (res.resourceName !== "" && res.resourceName !== String(ctx.broker.nodeId)) {
          result.errorCode = code("INVALID_REQUEST");
          result.errorMessage = `Unexpected broker id, expected ${ctx.broker.nodeId} or empty string, but received ${res.resourceName}`;
          return result;
        }
        for (const c of brokerConfigs(ctx)) {
          if (wanted(c.name))
            result.configs.push(entry(c.name, c.value, SOURCE_STATIC_BROKER, true, c.type, c.doc));
        }
        return result;
      }
      result.errorCode = code("INVALID_REQUEST");
      result.errorMessage = `Unsupported resource type ${res.resourceType}`;
      return result;
    });
    return { throttleTimeMs: 0, results };
  },
);

export const incrementalAlterConfigs = defineHandler(
  apis.IncrementalAlterConfigs,
  0,
  1,
  async (ctx, req): Promise<IncrementalAlterConfigsResponse> => {
    if (ctx.broker.cluster)
      return forwardToController(ctx, apis.IncrementalAlterConfigs as never, "incrementalAlterConfigs", req);
    const topics = ctx.broker.topics;
    const isDuplicate = duplicateResources(req.resources);
    const responses: AlterConfigsResourceResponse[] = [];
    await topics.adminMutex.run(async () => {
      for (const res of req.resources) {
        const out: AlterConfigsResourceResponse = {
          errorCode: 0,
          errorMessage: null,
          resourceType: res.resourceType,
          resourceName: res.resourceName,
        };
        responses.push(out);
        const fail = (name: Parameters<typeof code>[0], message: string): void => {
          out.errorCode = code(name);
          out.errorMessage = message;
        };
        const typeError = resourceTypeError(res, isDuplicate);
        if (typeError) {
          fail(typeError.error, typeError.message);
          continue;
        }
        const names = res.configs.map((c) => c.name);
        if (new Set(names).size !== names.length) {
          fail("INVALID_REQUEST", "Error due to duplicate config keys");
          continue;
        }
        const bad = invalidTopicName(res.resourceName);
        if (bad) {
          fail("INVALID_TOPIC_EXCEPTION", bad);
          continue;
        }
        const rt = topics.get(res.resourceName);
        if (!rt) {
          fail("UNKNOWN_TOPIC_OR_PARTITION", `Topic ${res.resourceName} does not exist.`);
          continue;
        }
        const next: Record<string, string> = { ...rt.meta.configs };
        let error = false;
        for (const c of res.configs) {
          const def = TOPIC_CONFIGS.get(c.name);
          if (!def) {
            fail("INVALID_CONFIG", `Unknown topic config name: ${c.name}`);
            error = true;
            break;
          }
          if (c.configOperation === OP_SET) {
            if (c.value === null) {
              fail("INVALID_REQUEST", `Null value not supported for : ${c.name}`);
              error = true;
              break;
            }
            next[c.name] = c.value;
          } else if (c.configOperation === OP_DELETE) {
            delete next[c.name];
          } else if (c.configOperation === OP_APPEND || c.configOperation === OP_SUBTRACT) {
            if (def.type !== 7) {
              fail("INVALID_CONFIG", `Config value append is not allowed for config key: ${c.name}`);
              error = true;
              break;
            }
            const current = (next[c.name] ?? def.defaultValue).split(",").filter((x) => x !== "");
            const items = (c.value ?? "")
              .split(",")
              .map((x) => x.trim())
              .filter((x) => x !== "");
            const updated =
              c.configOperation === OP_APPEND
                ? [...current, ...items.filter((x) => !current.includes(x))]
                : current.filter((x) => !items.includes(x));
            next[c.name] = updated.join(",");
          } else {
            fail("INVALID_REQUEST", `Unknown config operation ${c.configOperation}`);
            error = true;
            break;
          }
        }
        if (error) continue;
        const validated = validateTopicConfigs(
          Object.entries(next).map(([name, value]) => ({ name, value })),
        );
        if (!validated.ok) {
          fail(validated.error, validated.message);
          continue;
        }
        if (!req.validateOnly) {
          try {
            await topics.setConfigs(res.resourceName, validated.configs);
          } catch (e) {
            ctx.log.error({ err: e }, "config change failed");
            fail("UNKNOWN_SERVER_ERROR", (e as Error).message);
          }
        }
      }
    });
    return { throttleTimeMs: 0, responses };
  },
);

/**
 * AlterConfigs (key 33), the legacy non-incremental API: the configs listed become the resource's
 * complete set of overrides; every override not listed reverts to its default (Kafka's
 * legacyAlterConfigs). Errors are per resource; validateOnly checks without applying.
 */
export const alterConfigs = defineHandler(
  apis.AlterConfigs,
  0,
  2,
  async (ctx, req): Promise<AlterConfigsResponse> => {
    const topics = ctx.broker.topics;
    const isDuplicate = duplicateResources(req.resources);
    const responses: AlterConfigsResourceResponse[] = [];
    const forwarded: {
      out: AlterConfigsResourceResponse;
      resource: IncrementalAlterConfigsRequest["resources"][number];
    }[] = [];
    await topics.adminMutex.run(async () => {
      for (const res of req.resources) {
        const out: AlterConfigsResourceResponse = {
          errorCode: 0,
          errorMessage: null,
          resourceType: res.resourceType,
          resourceName: res.resourceName,
        };
        responses.push(out);
        const fail = (name: Parameters<typeof code>[0], message: string): void => {
          out.errorCode = code(name);
          out.errorMessage = message;
        };
        const typeError = resourceTypeError(res, isDuplicate);
        if (typeError) {
          fail(typeError.error, typeError.message);
          continue;
        }
        const bad = invalidTopicName(res.resourceName);
        if (bad) {
          fail("INVALID_TOPIC_EXCEPTION", bad);
          continue;
        }
        const rt = topics.get(res.resourceName);
        if (!rt) {
          fail("UNKNOWN_TOPIC_OR_PARTITION", `Topic ${res.resourceName} does not exist.`);
          continue;
        }
        // A later entry for the same name wins, as in Kafka's map of the request's configs.
        const next = new Map<string, string | null>();
        for (const c of res.configs) next.set(c.name, c.value);
        const nulls = [...next].filter(([, value]) => value === null).map(([name]) => name);
        const unknown = [...next.keys()].find((name) => !TOPIC_CONFIGS.has(name));
        if (unknown !== undefined) {
          fail("INVALID_CONFIG", `Unknown topic config name: ${unknown}`);
          continue;
        }
        if (nulls.length > 0) {
          fail("INVALID_CONFIG", `Null value not supported for topic configs: ${nulls.join(",")}`);
          continue;
        }
        const validated = validateTopicConfigs([...next].map(([name, value]) => ({ name, value })));
        if (!validated.ok) {
          fail(validated.error, validated.message);
          continue;
        }
        if (req.validateOnly) continue;
        if (ctx.broker.cluster) {
          // Cluster mode: the full replacement becomes SETs and DELETEs for the controller.
          const ops = [
            ...Object.entries(validated.configs).map(([name, value]) => ({
              name,
              configOperation: 0,
              value,
            })),
            ...Object.keys(rt.meta.configs)
              .filter((name) => !(name in validated.configs))
              .map((name) => ({ name, configOperation: 1, value: null })),
          ];
          forwarded.push({
            out,
            resource: { resourceType: res.resourceType, resourceName: res.resourceName, configs: ops },
          });
          continue;
        }
        try {
          await topics.setConfigs(res.resourceName, validated.configs);
        } catch (e) {
          ctx.log.error({ err: e }, "config change failed");
          fail("UNKNOWN_SERVER_ERROR", (e as Error).message);
        }
      }
    });
    for (const f of forwarded) {
      const r = await forwardToController<IncrementalAlterConfigsResponse>(
        ctx,
        apis.IncrementalAlterConfigs as never,
        "incrementalAlterConfigs",
        { resources: [f.resource], validateOnly: false },
      );
      const answer = r.responses[0];
      if (answer && answer.errorCode !== 0) {
        f.out.errorCode = answer.errorCode;
        f.out.errorMessage = answer.errorMessage ?? null;
      }
    }
    return { throttleTimeMs: 0, responses };
  },
);
