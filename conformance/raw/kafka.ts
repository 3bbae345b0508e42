// A small raw-protocol client over RawConnection: version negotiation against the broker's
// ApiVersions, Metadata, leader/coordinator lookup and the handful of requests the raw tests need
// (CreateTopics, Produce, Fetch, ListOffsets, InitProducerId). It hides nothing: every helper returns
// the decoded response or the exact error code.

import { type Endpoint, RawConnection } from "../../protocol/client/connection.ts";
import { ERROR_CODES, errorName } from "../../protocol/error-codes.ts";
import { ApiKey, getApi } from "../../protocol/generated/index.ts";
import type { MetadataResponse } from "../../protocol/generated/metadata-response.ts";
import type { ApiKeyNumber } from "../../protocol/messages.ts";
import {
  type BatchHeader,
  decodeRecords,
  type LogRecord,
  readBatchHeader,
  splitBatches,
} from "../../protocol/records/index.ts";

export interface VersionRange {
  min: number;
  max: number;
}

/** Names an error code for assertion messages: 36 → "TOPIC_ALREADY_EXISTS(36)". */
export function codeName(code: number): string {
  return `${errorName(code) ?? "UNKNOWN"}(${code})`;
}

export const E = ERROR_CODES;

export function parseEndpoints(bootstrap: string): Endpoint[] {
  return bootstrap
    .split(",")
    .map((s) => s.trim())
    .filter(Boolean)
    .map((entry) => {
      const i = entry.lastIndexOf(":");
      return { host: entry.slice(0, i).replace(/^\[(.*)\]$/, "$1"), port: Number(entry.slice(i + 1)) };
    });
}

export const sleep = (ms: number) => new Promise((resolve) => setTimeout(resolve, ms));

/** Polls fn until it returns a non-undefined value or the deadline passes (then throws with `what`). */
export async function waitFor<T>(
  what: string,
  fn: () => Promise<T | undefined>,
  timeoutMs = 15_000,
  intervalMs = 100,
): Promise<T> {
  const deadline = Date.now() + timeoutMs;
  let lastError: unknown;
  for (;;) {
    try {
      const v = await fn();
      if (v !== undefined) return v;
    } catch (err) {
      lastError = err;
    }
    if (Date.now() > deadline) {
      throw new Error(
        `timed out after ${timeoutMs} ms waiting for ${what}${lastError ? ` (last error: ${(lastError as Error).message})` : ""}`,
      );
    }
    await sleep(intervalMs);
  }
}

export interface FetchResult {
  errorCode: number;
  highWatermark: bigint;
  lastStableOffset: bigint;
  logStartOffset: bigint;
  records: LogRecord[];
  /** Headers of the v2 batches in the answer (compression, timestamp type, producer fields). */
  batches: BatchHeader[];
  abortedProducers: bigint[];
}

export class RawKafka {
  private readonly endpoints: Endpoint[];
  private bootstrapConn: RawConnection | undefined;
  private nodeConns = new Map<number, RawConnection>();
  private ranges: Map<number, VersionRange> | undefined;
  private extra: RawConnection[] = [];

  constructor(
    bootstrap: string,
    private readonly clientId = "gauntlet-conformance-raw",
  ) {
    this.endpoints = parseEndpoints(bootstrap);
  }

  /** A connection to the first bootstrap server (shared; opened on first use). */
  async bootstrap(): Promise<RawConnection> {
    if (this.bootstrapConn && !this.bootstrapConn.isClosed) return this.bootstrapConn;
    let lastErr: unknown;
    for (const ep of this.endpoints) {
      try {
        this.bootstrapConn = await RawConnection.open(ep, this.clientId);
        return this.bootstrapConn;
      } catch (err) {
        lastErr = err;
      }
    }
    throw lastErr;
  }

  /** A fresh, unshared connection to the first bootstrap server (closed by close()). */
  async fresh(endpoint?: Endpoint): Promise<RawConnection> {
    const c = await RawConnection.open(endpoint ?? this.endpoints[0], this.clientId);
    this.extra.push(c);
    return c;
  }

  /** The broker's advertised version ranges (ApiVersions v0, which every broker must answer). */
  async apiVersions(): Promise<Map<number, VersionRange>> {
    if (this.ranges) return this.ranges;
    const conn = await this.bootstrap();
    const res = await conn.request(ApiKey.ApiVersions, 0, {});
    if (res.errorCode !== 0) throw new Error(`ApiVersions failed: ${codeName(res.errorCode)}`);
    this.ranges = new Map(res.apiKeys.map((k) => [k.apiKey, { min: k.minVersion, max: k.maxVersion }]));
    return this.ranges;
  }

  /**
   * The highest version of apiKey that the broker advertises, the codec knows and is ≤ cap;
   * undefined when there is none.
   */
  async tryVersion(apiKey: number, cap = 32767, floor = 0): Promise<number | undefined> {
    const range = (await this.apiVersions()).get(apiKey);
    const api = getApi(apiKey);
    if (!range || !api) return undefined;
    const v = Math.min(range.max, api.maxVersion, cap);
    return v >= Math.max(range.min, api.minVersion, floor) ? v : undefined;
  }

  async version(apiKey: number, cap?: number, floor?: number): Promise<number> {
    const v = await this.tryVersion(apiKey, cap, floor);
    if (v === undefined) {
      throw new Error(`the broker supports no usable version of ${getApi(apiKey)?.name ?? apiKey}`);
    }
    return v;
  }

  async request<K extends ApiKeyNumber>(
    apiKey: K,
    body: Parameters<RawConnection["request"]>[2] & object,
    opts: { cap?: number; conn?: RawConnection } = {},
  ) {
    const v = await this.version(apiKey, opts.cap);
    const conn = opts.conn ?? (await this.bootstrap());
    return conn.request(apiKey, v, body as never);
  }

  async metadata(topics: string[] | null, allowAutoTopicCreation = false): Promise<MetadataResponse> {
    const v = await this.version(ApiKey.Metadata, 12, 4);
    const conn = await this.bootstrap();
    return conn.request(ApiKey.Metadata, v, {
      topics: topics === null ? null : topics.map((name) => ({ name })),
      allowAutoTopicCreation,
    } as never);
  }

  /** A connection to node nodeId at its advertised address (cached). */
  async node(nodeId: number): Promise<RawConnection> {
    const cached = this.nodeConns.get(nodeId);
    if (cached && !cached.isClosed) return cached;
    const md = await this.metadata([]);
    const b = md.brokers.find((x) => x.nodeId === nodeId);
    if (!b) throw new Error(`node ${nodeId} is not in Metadata`);
    const conn = await RawConnection.open({ host: b.host, port: b.port }, this.clientId);
    this.nodeConns.set(nodeId, conn);
    return conn;
  }

  /**
   * Waits until every broker's Metadata shows every partition of topic with a leader (brokers learn
   * new topics asynchronously); returns the partition count.
   */
  async waitForTopic(topic: string, timeoutMs = 15_000): Promise<number> {
    const ready = (md: MetadataResponse) => {
      const t = md.topics[0];
      if (t === undefined || t.errorCode !== 0 || t.partitions.length === 0) return undefined;
      if (t.partitions.some((p) => p.leaderId < 0 || p.errorCode !== 0)) return undefined;
      return t.partitions.length;
    };
    const n = await waitFor(
      `leaders of ${topic}`,
      async () => ready(await this.metadata([topic])),
      timeoutMs,
    );
    const v = await this.version(ApiKey.Metadata, 12, 4);
    for (const b of (await this.metadata([])).brokers) {
      const conn = await this.node(b.nodeId).catch(() => undefined);
      if (!conn) continue;
      await waitFor(
        `${topic} on node ${b.nodeId}`,
        async () =>
          ready(
            await conn.request(ApiKey.Metadata, v, {
              topics: [{ name: topic }],
              allowAutoTopicCreation: false,
            } as never),
          ),
        timeoutMs,
      );
    }
    // Metadata can name a leader a moment before that broker's replica manager acts as one (Kafka
    // publishes its metadata cache first): probe every leader with ListOffsets, which needs the
    // leadership itself, so a client's first produce does not meet NOT_LEADER_OR_FOLLOWER and retry
    // (a non-idempotent retry writes duplicates, which is legal and not what a test is about).
    for (let partition = 0; partition < n; partition++) {
      await waitFor(
        `${topic}-${partition} to accept requests on its leader`,
        async () => ((await this.listOffset(topic, partition, -1n)).errorCode === 0 ? true : undefined),
        timeoutMs,
      );
    }
    return n;
  }

  async leader(topic: string, partition: number): Promise<RawConnection> {
    const leaderId = await waitFor(`leader of ${topic}-${partition}`, async () => {
      const md = await this.metadata([topic]);
      const p = md.topics[0]?.partitions.find((x) => x.partitionIndex === partition);
      return p && p.leaderId >= 0 ? p.leaderId : undefined;
    });
    return this.node(leaderId);
  }

  async coordinator(key: string, keyType = 0): Promise<RawConnection> {
    const v = await this.version(ApiKey.FindCoordinator);
    const conn = await this.bootstrap();
    const nodeId = await waitFor(`coordinator of ${key}`, async () => {
      const res = await conn.request(
        ApiKey.FindCoordinator,
        v,
        v >= 4 ? { keyType, coordinatorKeys: [key] } : { key, keyType },
      );
      const c = v >= 4 ? res.coordinators?.[0] : { errorCode: res.errorCode ?? 0, nodeId: res.nodeId ?? -1 };
      return c && c.errorCode === 0 ? c.nodeId : undefined;
    });
    return this.node(nodeId);
  }

  /** CreateTopics; returns the topic's error code (0 on success) and message. */
  async createTopic(
    name: string,
    opts: { partitions?: number; replicationFactor?: number; configs?: Record<string, string> } = {},
  ): Promise<{ errorCode: number; errorMessage: string | null; topicId?: string }> {
    const res = await this.request(ApiKey.CreateTopics, {
      topics: [
        {
          name,
          numPartitions: opts.partitions ?? 1,
          replicationFactor: opts.replicationFactor ?? -1,
          assignments: [],
          configs: Object.entries(opts.configs ?? {}).map(([k, value]) => ({ name: k, value })),
        },
      ],
      timeoutMs: 15_000,
    });
    const t = res.topics[0];
    if (t.errorCode === 0) await this.waitForTopic(name);
    return { errorCode: t.errorCode, errorMessage: t.errorMessage ?? null, topicId: t.topicId };
  }

  /** Produce one records blob to one partition, through its leader. */
  async produce(
    topic: string,
    partition: number,
    records: Buffer,
    opts: { acks?: number; transactionalId?: string | null; timeoutMs?: number } = {},
  ) {
    const conn = await this.leader(topic, partition);
    const v = await this.version(ApiKey.Produce, 12, 3);
    const res = await conn.request(ApiKey.Produce, v, {
      transactionalId: opts.transactionalId ?? null,
      acks: opts.acks ?? -1,
      timeoutMs: opts.timeoutMs ?? 10_000,
      topicData: [{ name: topic, partitionData: [{ index: partition, records }] }],
    });
    return res.responses[0].partitionResponses[0];
  }

  async fetch(
    topic: string,
    partition: number,
    offset: bigint,
    opts: { isolationLevel?: 0 | 1; maxBytes?: number; maxWaitMs?: number } = {},
  ): Promise<FetchResult> {
    const conn = await this.leader(topic, partition);
    const v = await this.version(ApiKey.Fetch, 12, 4);
    const res = await conn.request(ApiKey.Fetch, v, {
      replicaId: -1,
      maxWaitMs: opts.maxWaitMs ?? 0,
      minBytes: 0,
      maxBytes: opts.maxBytes ?? 8 * 1024 * 1024,
      isolationLevel: opts.isolationLevel ?? 0,
      sessionId: 0,
      sessionEpoch: -1,
      topics: [
        {
          topic,
          partitions: [
            {
              partition,
              fetchOffset: offset,
              partitionMaxBytes: opts.maxBytes ?? 8 * 1024 * 1024,
              currentLeaderEpoch: -1,
              lastFetchedEpoch: -1,
              logStartOffset: -1n,
            },
          ],
        },
      ],
      forgottenTopicsData: [],
      rackId: "",
    });
    const p = res.responses[0].partitions[0];
    return {
      errorCode: p.errorCode || (res.errorCode ?? 0),
      highWatermark: p.highWatermark,
      lastStableOffset: p.lastStableOffset ?? -1n,
      logStartOffset: p.logStartOffset ?? -1n,
      records: p.records?.length ? decodeRecords(p.records) : [],
      batches: p.records?.length
        ? splitBatches(p.records)
            .filter((span) => span.length >= 61)
            .map((span) => readBatchHeader(p.records!, span.offset))
        : [],
      abortedProducers: (p.abortedTransactions ?? []).map((a) => a.producerId),
    };
  }

  /** Fetches from `from` until the high watermark; returns every record (control records included). */
  async fetchAll(
    topic: string,
    partition: number,
    from = 0n,
    isolationLevel: 0 | 1 = 0,
  ): Promise<LogRecord[]> {
    const out: LogRecord[] = [];
    let offset = from;
    for (let i = 0; i < 1000; i++) {
      const r = await this.fetch(topic, partition, offset, { isolationLevel });
      if (r.errorCode !== 0)
        throw new Error(`fetch ${topic}-${partition}@${offset}: ${codeName(r.errorCode)}`);
      const fresh = r.records.filter((x) => x.offset >= offset);
      out.push(...fresh);
      const end = isolationLevel === 1 ? r.lastStableOffset : r.highWatermark;
      if (fresh.length === 0) {
        if (offset >= end) return out;
        // skip over batches that hold only filtered/compacted offsets
        offset = r.records.length ? r.records[r.records.length - 1].offset + 1n : end;
        continue;
      }
      offset = fresh[fresh.length - 1].offset + 1n;
      if (offset >= end) return out;
    }
    return out;
  }

  /** ListOffsets for one partition: timestamp -2 earliest, -1 latest, else the first offset at/after it. */
  async listOffset(
    topic: string,
    partition: number,
    timestamp: bigint,
    isolationLevel: 0 | 1 = 0,
  ): Promise<{ errorCode: number; offset: bigint; timestamp: bigint }> {
    const conn = await this.leader(topic, partition);
    const v = await this.version(ApiKey.ListOffsets, 11, 1);
    const res = await conn.request(ApiKey.ListOffsets, v, {
      replicaId: -1,
      isolationLevel,
      topics: [
        {
          name: topic,
          partitions: [{ partitionIndex: partition, currentLeaderEpoch: -1, timestamp, maxNumOffsets: 1 }],
        },
      ],
      timeoutMs: 5000,
    });
    const p = res.topics[0].partitions[0];
    return { errorCode: p.errorCode, offset: p.offset ?? -1n, timestamp: p.timestamp ?? -1n };
  }

  async initProducerId(
    transactionalId: string | null = null,
  ): Promise<{ errorCode: number; producerId: bigint; producerEpoch: number }> {
    const v = await this.version(ApiKey.InitProducerId);
    // Retriable while the broker's producer-id or transaction state is still loading, as clients do.
    const retriable: number[] = [
      E.COORDINATOR_LOAD_IN_PROGRESS,
      E.COORDINATOR_NOT_AVAILABLE,
      E.NOT_COORDINATOR,
    ];
    const deadline = Date.now() + 20_000;
    for (;;) {
      const conn = transactionalId ? await this.coordinator(transactionalId, 1) : await this.bootstrap();
      const res = await conn.request(ApiKey.InitProducerId, v, {
        transactionalId,
        transactionTimeoutMs: 60_000,
        producerId: -1n,
        producerEpoch: -1,
      });
      if (!retriable.includes(res.errorCode) || Date.now() > deadline) {
        return { errorCode: res.errorCode, producerId: res.producerId, producerEpoch: res.producerEpoch };
      }
      await sleep(200);
    }
  }

  close(): void {
    this.bootstrapConn?.close();
    for (const c of this.nodeConns.values()) c.close();
    for (const c of this.extra) c.close();
    this.nodeConns.clear();
    this.extra = [];
    this.bootstrapConn = undefined;
  }
}
