/**
 * Test support for broker/controller: a deterministic in-memory "cluster" that feeds controller
 * decisions back through applyRecords at increasing offsets (what Raft would do) and checks the image
 * and transition invariants after every batch.
 */
import { expect } from "vitest";
import type { BrokerRegistrationRequest } from "../../protocol/generated/broker-registration-request.ts";
import { Controller, type ControllerConfig, type ControllerResult } from "../controller/controller.ts";
import { checkImageInvariants, checkTransitionInvariants } from "../controller/invariants.ts";
import {
  applyRecords,
  emptyImage,
  type MetadataImage,
  type PartitionImage,
  topicByName,
} from "../controller/metadata-image.ts";

export const CLUSTER_ID = "gauntlet-test-cluster-0";

/** mulberry32: a tiny seeded PRNG. */
export function rng(seed: number): () => number {
  let a = seed >>> 0;
  return () => {
    a = (a + 0x6d2b79f5) >>> 0;
    let t = a;
    t = Math.imul(t ^ (t >>> 15), t | 1);
    t ^= t + Math.imul(t ^ (t >>> 7), t | 61);
    return ((t ^ (t >>> 14)) >>> 0) / 4294967296;
  };
}

/** Deterministic UUIDs: 00000000-0000-4000-8000-<counter>. */
export function uuidSequence(start = 1): () => string {
  let n = start;
  return () => `00000000-0000-4000-8000-${(n++).toString(16).padStart(12, "0")}`;
}

export function incarnation(brokerId: number, generation = 0): string {
  return `${brokerId.toString(16).padStart(8, "0")}-0000-4000-9000-${generation.toString(16).padStart(12, "0")}`;
}

export class TestCluster {
  image: MetadataImage = emptyImage(CLUSTER_ID);
  offset = 0;
  now = 1_000_000;
  readonly controller: Controller;
  readonly history: MetadataImage[] = [this.image];

  constructor(config: Partial<ControllerConfig> = {}) {
    this.controller = new Controller({ clusterId: CLUSTER_ID, newUuid: uuidSequence(), ...config });
  }

  /** Commits the result's records (one batch at the next offset), checking invariants; returns the response. */
  commit<T>(result: ControllerResult<T>): T {
    if (result.records.length > 0) {
      const next = applyRecords(this.image, result.records, ++this.offset);
      expect(checkImageInvariants(next)).toEqual([]);
      expect(checkTransitionInvariants(this.image, next)).toEqual([]);
      this.image = next;
      this.history.push(next);
    }
    return result.response;
  }

  registrationRequest(id: number, rack: string | null = null, generation = 0): BrokerRegistrationRequest {
    return {
      brokerId: id,
      clusterId: CLUSTER_ID,
      incarnationId: incarnation(id, generation),
      listeners: [{ name: "PLAINTEXT", host: `broker${id}.local`, port: 9092, securityProtocol: 0 }],
      features: [{ name: "metadata.version", minSupportedVersion: 1, maxSupportedVersion: 20 }],
      rack,
    };
  }

  register(id: number, rack: string | null = null, generation = 0): bigint {
    const r = this.commit(
      this.controller.registerBroker(this.image, this.registrationRequest(id, rack, generation), this.now),
    );
    expect(r.errorCode).toBe(0);
    return r.brokerEpoch;
  }

  heartbeat(id: number, opts: { wantShutDown?: boolean; wantFence?: boolean; offset?: number } = {}) {
    const b = this.image.brokers.get(id)!;
    return this.commit(
      this.controller.brokerHeartbeat(
        this.image,
        {
          brokerId: id,
          brokerEpoch: b.epoch,
          currentMetadataOffset: BigInt(opts.offset ?? this.offset),
          wantFence: opts.wantFence ?? false,
          wantShutDown: opts.wantShutDown ?? false,
        },
        this.now,
      ),
    );
  }

  /** Registers and unfences brokers `ids` (racks by index when given). */
  startBrokers(ids: number[], racks?: (string | null)[]): void {
    ids.forEach((id, i) => {
      this.register(id, racks?.[i] ?? null);
    });
    for (const id of ids) expect(this.heartbeat(id).isFenced).toBe(false);
  }

  createTopic(name: string, partitions: number, rf: number, configs: Record<string, string> = {}) {
    const r = this.commit(
      this.controller.createTopics(this.image, {
        topics: [
          {
            name,
            numPartitions: partitions,
            replicationFactor: rf,
            assignments: [],
            configs: Object.entries(configs).map(([k, v]) => ({ name: k, value: v })),
          },
        ],
        timeoutMs: 1000,
        validateOnly: false,
      }),
    );
    return r.topics[0];
  }

  /** Creates a topic with an explicit assignment. */
  createAssigned(name: string, assignment: number[][]) {
    const r = this.commit(
      this.controller.createTopics(this.image, {
        topics: [
          {
            name,
            numPartitions: -1,
            replicationFactor: -1,
            assignments: assignment.map((brokerIds, partitionIndex) => ({ partitionIndex, brokerIds })),
            configs: [],
          },
        ],
        timeoutMs: 1000,
        validateOnly: false,
      }),
    );
    return r.topics[0];
  }

  partition(topic: string, index: number): PartitionImage {
    return topicByName(this.image, topic)!.partitions.get(index)!;
  }

  topicId(topic: string): string {
    return topicByName(this.image, topic)!.id;
  }

  /** Advances time, heartbeating `alive` brokers every second, then ticks. */
  advance(ms: number, alive: number[]): void {
    const end = this.now + ms;
    while (this.now < end) {
      this.now = Math.min(end, this.now + 1000);
      for (const id of alive) this.heartbeat(id);
      this.commit(this.controller.tick(this.image, this.now));
    }
  }
}
