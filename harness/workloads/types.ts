// Workload specs, their validation, and the messages a worker process and the runner exchange.
//
// A spec describes one worker: one client (kafkajs or node-rdkafka) in one role (producer or consumer),
// run in its own child process. Specs are plain JSON so they travel to the child unchanged.
import type { EventFields } from "../history/recorder.ts";
import type { EventType, Operation } from "../history/types.ts";
import { MAX_SEED } from "../seed.ts";

export const CLIENTS = ["kafkajs", "rdkafka"] as const;
export type ClientName = (typeof CLIENTS)[number];

export const ROLES = ["producer", "consumer"] as const;
export type Role = (typeof ROLES)[number];

export const KEY_MODES = ["none", "random", "sequential"] as const;
export type KeyMode = (typeof KEY_MODES)[number];

export type Acks = 0 | 1 | -1;

export interface WorkloadSpec {
  client: ClientName;
  role: Role;
  /** Comma-separated host:port list. */
  bootstrap: string;
  topic: string;
  /**
   * Producer: partitions to choose from (seeded, per message); omitted = the client's partitioner.
   * Consumer without groupId: the partitions to assign manually (rdkafka only).
   */
  partitions?: number[];
  /** Producer: sends started per second, over all in-flight slots. Consumer: ignored. */
  ratePerSec: number;
  /** Producer: sends outstanding at once; each slot is a logical process `${workerId}#${slot}`. */
  maxInFlight: number;
  acks: Acks;
  idempotent: boolean;
  keys: KeyMode;
  /** Distinct keys for keys: "random" (default 1000). */
  keySpace?: number;
  /** Values are `${valuePrefix}-${seq}`; defaults to the worker id. Must be unique within a run. */
  valuePrefix?: string;
  /** Consumer group; without it a consumer assigns `partitions` manually. */
  groupId?: string;
  /** Stop after this long (from the worker's start). At least one of durationMs and maxMessages. */
  durationMs?: number;
  /** Producer: sends to start; consumer: records to read. */
  maxMessages?: number;
  requestTimeoutMs: number;
  retries: number;
  clientRack?: string;
  /** The run's seed; the worker forks its own stream from it by worker id. */
  seed: number;
}

/** A final read of whole partitions from the log start (see drain.ts). */
export interface DrainSpec {
  client: ClientName;
  bootstrap: string;
  topic: string;
  /** Partitions to read; omitted = every partition of the topic (from metadata). */
  partitions?: number[];
  /** Give up (recording what was read, with how far) after this long. Default 60 s. */
  deadlineMs?: number;
  requestTimeoutMs?: number;
}

/** Thrown for a spec that cannot run; the message is one sentence naming the field and the fix. */
export class WorkloadSpecError extends Error {
  constructor(message: string) {
    super(message);
    this.name = "WorkloadSpecError";
  }
}

const isObject = (v: unknown): v is Record<string, unknown> =>
  typeof v === "object" && v !== null && !Array.isArray(v);
const isPosInt = (v: unknown): v is number => Number.isSafeInteger(v) && (v as number) > 0;
const isNonNegInt = (v: unknown): v is number => Number.isSafeInteger(v) && (v as number) >= 0;
const show = (v: unknown): string => (v === undefined ? "nothing" : JSON.stringify(v));

const KNOWN_FIELDS = new Set([
  "client",
  "role",
  "bootstrap",
  "topic",
  "partitions",
  "ratePerSec",
  "maxInFlight",
  "acks",
  "idempotent",
  "keys",
  "keySpace",
  "valuePrefix",
  "groupId",
  "durationMs",
  "maxMessages",
  "requestTimeoutMs",
  "retries",
  "clientRack",
  "seed",
]);

function checkBootstrap(where: string, v: unknown): void {
  if (typeof v !== "string" || !v.split(",").every((hp) => /^[^\s:,]+:\d{1,5}$/.test(hp.trim()))) {
    throw new WorkloadSpecError(
      `${where}.bootstrap must be a comma-separated host:port list, not ${show(v)}.`,
    );
  }
}

function checkTopic(where: string, v: unknown): void {
  if (typeof v !== "string" || !/^[a-zA-Z0-9._-]{1,249}$/.test(v)) {
    throw new WorkloadSpecError(
      `${where}.topic must be a Kafka topic name (1-249 of a-z A-Z 0-9 . _ -), not ${show(v)}.`,
    );
  }
}

function checkPartitions(where: string, v: unknown): void {
  if (v === undefined) return;
  if (!Array.isArray(v) || v.length === 0 || !v.every(isNonNegInt) || new Set(v).size !== v.length) {
    throw new WorkloadSpecError(
      `${where}.partitions must be a non-empty list of distinct partition numbers (>= 0), not ${show(v)}.`,
    );
  }
}

/**
 * Checks a spec (e.g. parsed from JSON or a CLI) and returns it typed. Throws WorkloadSpecError with
 * one sentence for the first problem found.
 */
export function validateSpec(input: unknown, where = "spec"): WorkloadSpec {
  if (!isObject(input)) throw new WorkloadSpecError(`${where} must be an object, not ${show(input)}.`);
  const s = input;
  for (const field of Object.keys(s)) {
    if (!KNOWN_FIELDS.has(field)) {
      throw new WorkloadSpecError(`${where} has an unknown field "${field}" (a typo?).`);
    }
  }
  const oneOf = (field: string, allowed: readonly unknown[]) => {
    if (!allowed.includes(s[field])) {
      throw new WorkloadSpecError(
        `${where}.${field} must be one of ${allowed.map((a) => JSON.stringify(a)).join(", ")}, not ${show(s[field])}.`,
      );
    }
  };
  oneOf("client", CLIENTS);
  oneOf("role", ROLES);
  checkBootstrap(where, s.bootstrap);
  checkTopic(where, s.topic);
  checkPartitions(where, s.partitions);
  if (typeof s.ratePerSec !== "number" || !(s.ratePerSec > 0) || !Number.isFinite(s.ratePerSec)) {
    throw new WorkloadSpecError(
      `${where}.ratePerSec must be a positive finite number, not ${show(s.ratePerSec)}.`,
    );
  }
  if (!isPosInt(s.maxInFlight) || s.maxInFlight > 1000) {
    throw new WorkloadSpecError(
      `${where}.maxInFlight must be a whole number from 1 to 1000, not ${show(s.maxInFlight)}.`,
    );
  }
  oneOf("acks", [0, 1, -1]);
  if (typeof s.idempotent !== "boolean") {
    throw new WorkloadSpecError(`${where}.idempotent must be true or false, not ${show(s.idempotent)}.`);
  }
  oneOf("keys", KEY_MODES);
  if (s.keySpace !== undefined && !isPosInt(s.keySpace)) {
    throw new WorkloadSpecError(
      `${where}.keySpace must be a positive whole number, not ${show(s.keySpace)}.`,
    );
  }
  if (
    s.valuePrefix !== undefined &&
    (typeof s.valuePrefix !== "string" || !/^[A-Za-z0-9._#:/-]+$/.test(s.valuePrefix))
  ) {
    throw new WorkloadSpecError(
      `${where}.valuePrefix must be a non-empty string of letters, digits and . _ # : / -, not ${show(s.valuePrefix)}.`,
    );
  }
  if (s.groupId !== undefined && (typeof s.groupId !== "string" || s.groupId.length === 0)) {
    throw new WorkloadSpecError(`${where}.groupId must be a non-empty string, not ${show(s.groupId)}.`);
  }
  if (s.durationMs !== undefined && !isPosInt(s.durationMs)) {
    throw new WorkloadSpecError(
      `${where}.durationMs must be a positive whole number of ms, not ${show(s.durationMs)}.`,
    );
  }
  if (s.maxMessages !== undefined && !isPosInt(s.maxMessages)) {
    throw new WorkloadSpecError(
      `${where}.maxMessages must be a positive whole number, not ${show(s.maxMessages)}.`,
    );
  }
  if (s.durationMs === undefined && s.maxMessages === undefined) {
    throw new WorkloadSpecError(
      `${where} needs durationMs or maxMessages (or both) so the worker knows when to stop.`,
    );
  }
  if (!isPosInt(s.requestTimeoutMs)) {
    throw new WorkloadSpecError(
      `${where}.requestTimeoutMs must be a positive whole number of ms, not ${show(s.requestTimeoutMs)}.`,
    );
  }
  if (!isNonNegInt(s.retries)) {
    throw new WorkloadSpecError(`${where}.retries must be a whole number >= 0, not ${show(s.retries)}.`);
  }
  if (s.clientRack !== undefined && (typeof s.clientRack !== "string" || s.clientRack.length === 0)) {
    throw new WorkloadSpecError(`${where}.clientRack must be a non-empty string, not ${show(s.clientRack)}.`);
  }
  if (!isNonNegInt(s.seed) || (s.seed as number) > MAX_SEED) {
    throw new WorkloadSpecError(
      `${where}.seed must be a whole number from 0 to ${MAX_SEED}, not ${show(s.seed)}.`,
    );
  }
  // Combinations.
  if (s.idempotent && s.acks !== -1) {
    throw new WorkloadSpecError(
      `${where} sets idempotent: true with acks ${s.acks}; an idempotent producer needs acks: -1.`,
    );
  }
  if (s.idempotent && s.retries === 0) {
    throw new WorkloadSpecError(
      `${where} sets idempotent: true with retries 0; an idempotent producer needs retries >= 1.`,
    );
  }
  if (s.role === "consumer") {
    if (s.groupId === undefined && s.partitions === undefined) {
      throw new WorkloadSpecError(
        `${where} is a consumer without groupId or partitions: give a group to join or partitions to assign.`,
      );
    }
    if (s.groupId === undefined && s.client === "kafkajs") {
      throw new WorkloadSpecError(
        `${where} asks kafkajs to assign partitions manually, which kafkajs cannot do: set groupId or use client "rdkafka".`,
      );
    }
  }
  return s as unknown as WorkloadSpec;
}

/** Checks a drain spec; throws WorkloadSpecError with one sentence for the first problem. */
export function validateDrainSpec(input: unknown, where = "drain"): DrainSpec {
  if (!isObject(input)) throw new WorkloadSpecError(`${where} must be an object, not ${show(input)}.`);
  if (!(CLIENTS as readonly unknown[]).includes(input.client)) {
    throw new WorkloadSpecError(`${where}.client must be "kafkajs" or "rdkafka", not ${show(input.client)}.`);
  }
  checkBootstrap(where, input.bootstrap);
  checkTopic(where, input.topic);
  checkPartitions(where, input.partitions);
  for (const field of ["deadlineMs", "requestTimeoutMs"]) {
    if (input[field] !== undefined && !isPosInt(input[field])) {
      throw new WorkloadSpecError(
        `${where}.${field} must be a positive whole number of ms, not ${show(input[field])}.`,
      );
    }
  }
  return input as unknown as DrainSpec;
}

// ---------------------------------------------------------------------------------------------
// IPC between the runner (parent) and a worker process (child).

/** Parent → child. The first message is always `start`. */
export type ParentMessage =
  | {
      t: "start";
      workerId: string;
      /** Synthetic producer id for this worker's sends (its ordinal in the run); see README. */
      producerId: number;
      job: { kind: "workload"; spec: WorkloadSpec } | { kind: "drain"; spec: DrainSpec; process: string };
    }
  | { t: "stop" };

/** Child → parent. Operation ids are local to the worker; the runner maps them to history events. */
export type WorkerMessage =
  | { t: "ready" }
  | { t: "invoke"; id: number; process: string; f: Operation; fields: EventFields }
  | { t: "complete"; id: number; type: Exclude<EventType, "invoke">; fields: EventFields }
  | { t: "event"; process: string; f: Operation; fields: EventFields }
  | { t: "log"; message: string }
  | { t: "done"; reason: string }
  | { t: "fatal"; message: string };

/** How a worker reports events; the worker-side implementation sends them over IPC. */
export interface EventSink {
  invoke(process: string, f: Operation, fields?: EventFields): number;
  complete(id: number, type: Exclude<EventType, "invoke">, fields?: EventFields): void;
  event(process: string, f: Operation, fields?: EventFields): void;
  log(message: string): void;
}
