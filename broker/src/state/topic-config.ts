/**
 * The topic configs this broker honours, with Kafka's names, defaults, types and validation
 * (Kafka's LogConfig / TopicConfig). Values are kept as strings, as on the wire.
 */
import type { ErrorName } from "../../../protocol/error-codes.ts";

export interface ConfigDef {
  name: string;
  /** Kafka's default, as a string (what DescribeConfigs reports with source DEFAULT_CONFIG). */
  defaultValue: string;
  /** Kafka ConfigType codes used by DescribeConfigs v3+: BOOLEAN 1, STRING 2, INT 3, SHORT 4, LONG 5, DOUBLE 6, LIST 7, CLASS 8, PASSWORD 9. */
  type: number;
  documentation: string;
  /** Normalised value, or an error sentence. */
  validate(value: string): { ok: true; value: string } | { ok: false; message: string };
}

const INT_MAX = 2 ** 31 - 1;

function integer(min: number, max: number): ConfigDef["validate"] {
  return (value) => {
    const v = value.trim();
    if (!/^-?\d+$/.test(v)) return { ok: false, message: `Invalid value ${value}: not a number.` };
    const n = Number(v);
    if (n < min) return { ok: false, message: `Invalid value ${value}: Value must be at least ${min}` };
    if (n > max) return { ok: false, message: `Invalid value ${value}: Value must be no more than ${max}` };
    return { ok: true, value: String(n) };
  };
}

function oneOf(...allowed: string[]): ConfigDef["validate"] {
  return (value) =>
    allowed.includes(value.trim())
      ? { ok: true, value: value.trim() }
      : { ok: false, message: `Invalid value ${value}: String must be one of: ${allowed.join(", ")}` };
}

export const TOPIC_CONFIGS: ReadonlyMap<string, ConfigDef> = new Map(
  (
    [
      {
        name: "cleanup.policy",
        defaultValue: "delete",
        type: 7,
        documentation: "delete or compact (only delete is carried out by this broker)",
        validate: (value: string) => {
          const parts = value.split(",").map((p) => p.trim());
          if (parts.length === 0 || parts.some((p) => p !== "delete" && p !== "compact")) {
            return {
              ok: false,
              message: `Invalid value ${value}: [delete, compact] are the only allowed values`,
            };
          }
          return { ok: true, value: [...new Set(parts)].join(",") };
        },
      },
      {
        name: "max.message.bytes",
        defaultValue: "1048588",
        type: 3,
        documentation: "largest record batch size allowed",
        validate: integer(0, INT_MAX),
      },
      {
        name: "message.timestamp.type",
        defaultValue: "CreateTime",
        type: 2,
        documentation: "CreateTime or LogAppendTime",
        validate: oneOf("CreateTime", "LogAppendTime"),
      },
      {
        name: "min.insync.replicas",
        defaultValue: "1",
        type: 3,
        documentation: "minimum ISR size for acks=all",
        validate: integer(1, INT_MAX),
      },
      {
        name: "retention.bytes",
        defaultValue: "-1",
        type: 5,
        documentation: "maximum partition size before old segments are deleted",
        validate: integer(Number.MIN_SAFE_INTEGER, Number.MAX_SAFE_INTEGER),
      },
      {
        name: "retention.ms",
        defaultValue: "604800000",
        type: 5,
        documentation: "maximum age of a segment before it is deleted",
        validate: integer(-1, Number.MAX_SAFE_INTEGER),
      },
      {
        name: "segment.bytes",
        defaultValue: "1073741824",
        type: 3,
        documentation: "segment file size",
        validate: integer(14, INT_MAX),
      },
    ] satisfies ConfigDef[]
  ).map((d) => [d.name, d]),
);

export type ConfigValidation =
  | { ok: true; configs: Record<string, string> }
  | { ok: false; error: ErrorName; message: string };

/** Validates a set of topic config overrides (null values mean "use the default" and are dropped). */
export function validateTopicConfigs(entries: { name: string; value: string | null }[]): ConfigValidation {
  const out: Record<string, string> = {};
  for (const { name, value } of entries) {
    const def = TOPIC_CONFIGS.get(name);
    if (!def) return { ok: false, error: "INVALID_CONFIG", message: `Unknown topic config name: ${name}` };
    if (value === null) continue;
    const v = def.validate(value);
    if (!v.ok)
      return { ok: false, error: "INVALID_CONFIG", message: `${v.message} for configuration ${name}` };
    out[name] = v.value;
  }
  return { ok: true, configs: out };
}

export function effectiveConfig(overrides: Record<string, string>, name: string): string {
  return overrides[name] ?? TOPIC_CONFIGS.get(name)!.defaultValue;
}
