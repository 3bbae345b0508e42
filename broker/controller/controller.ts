/**
 * The active controller's decision logic (KRaft's QuorumController with its replication, cluster and
 * producer-id managers), as deterministic code without I/O, timers or clocks: every operation takes the
 * current image (committed records plus any this controller has appended but not yet seen committed),
 * the request and `now`, and returns the records to append through Raft together with the response.
 * Nothing here changes an image; the caller applies the records (speculatively on the active
 * controller, for real on every node once committed).
 *
 * The only state kept between calls is soft: the time of each broker's last heartbeat (the session),
 * which a newly active controller starts afresh, as Kafka's does.
 */
import { ERROR_CODES, type ErrorName } from "../../protocol/error-codes.ts";
import { collisionKey, invalidTopicName } from "../src/state/topic-names.ts";

export { invalidTopicName };

import type { AllocateProducerIdsRequest } from "../../protocol/generated/allocate-producer-ids-request.ts";
import type { AllocateProducerIdsResponse } from "../../protocol/generated/allocate-producer-ids-response.ts";
import type { AlterPartitionReassignmentsRequest } from "../../protocol/generated/alter-partition-reassignments-request.ts";
import type {
  AlterPartitionReassignmentsResponse,
  ReassignablePartitionResponse,
} from "../../protocol/generated/alter-partition-reassignments-response.ts";
import type { AlterPartitionRequest } from "../../protocol/generated/alter-partition-request.ts";
import type {
  AlterPartitionResponse,
  PartitionData as AlterPartitionResult,
} from "../../protocol/generated/alter-partition-response.ts";
import type { BrokerHeartbeatRequest } from "../../protocol/generated/broker-heartbeat-request.ts";
import type { BrokerHeartbeatResponse } from "../../protocol/generated/broker-heartbeat-response.ts";
import type { BrokerRegistrationRequest } from "../../protocol/generated/broker-registration-request.ts";
import type { BrokerRegistrationResponse } from "../../protocol/generated/broker-registration-response.ts";
import type { CreatePartitionsRequest } from "../../protocol/generated/create-partitions-request.ts";
import type {
  CreatePartitionsResponse,
  CreatePartitionsTopicResult,
} from "../../protocol/generated/create-partitions-response.ts";
import type { CreatableTopic, CreateTopicsRequest } from "../../protocol/generated/create-topics-request.ts";
import type {
  CreatableTopicConfigs,
  CreatableTopicResult,
  CreateTopicsResponse,
} from "../../protocol/generated/create-topics-response.ts";
import type { DeleteTopicsRequest } from "../../protocol/generated/delete-topics-request.ts";
import type {
  DeletableTopicResult,
  DeleteTopicsResponse,
} from "../../protocol/generated/delete-topics-response.ts";
import type { ElectLeadersRequest } from "../../protocol/generated/elect-leaders-request.ts";
import type {
  ElectLeadersResponse,
  PartitionResult,
  ReplicaElectionResult,
} from "../../protocol/generated/elect-leaders-response.ts";
import type { IncrementalAlterConfigsRequest } from "../../protocol/generated/incremental-alter-configs-request.ts";
import type {
  AlterConfigsResourceResponse,
  IncrementalAlterConfigsResponse,
} from "../../protocol/generated/incremental-alter-configs-response.ts";
import type { ListPartitionReassignmentsRequest } from "../../protocol/generated/list-partition-reassignments-request.ts";
import type {
  ListPartitionReassignmentsResponse,
  OngoingTopicReassignment,
} from "../../protocol/generated/list-partition-reassignments-response.ts";
import type { PartitionChangeRecord } from "../../protocol/generated/metadata/partition-change-record.ts";
import { TOPIC_CONFIGS, validateTopicConfigs } from "../src/state/topic-config.ts";
import {
  configKey,
  ImageDraft,
  isActiveBroker,
  isReassigning,
  type MetadataImage,
  type MetadataRecord,
  NO_LEADER,
  NO_LEADER_CHANGE,
  type PartitionImage,
  RECOVERED,
  RECOVERING,
  RESOURCE_BROKER,
  RESOURCE_TOPIC,
  type TopicImage,
  topicByName,
} from "./metadata-image.ts";
import { PlacementError, placeReplicas } from "./placement.ts";

export const ZERO_UUID = "00000000-0000-0000-0000-000000000000";
/** Kafka reserves this topic id for the metadata topic. */
const METADATA_TOPIC_ID = "00000000-0000-0000-0000-000000000001";

export interface ControllerConfig {
  clusterId: string;
  /** broker.session.timeout.ms: a broker not heard from for longer is fenced by `tick`. */
  sessionTimeoutMs: number;
  /** unclean.leader.election.enable for every topic (off by default, as in Kafka). */
  uncleanLeaderElection: boolean;
  /** num.partitions / default.replication.factor for CreateTopics with -1. */
  defaultNumPartitions: number;
  defaultReplicationFactor: number;
  /** Producer ids per AllocateProducerIds block (Kafka: 1000). */
  producerIdBlockSize: number;
  /** Mixed into every placement so separate clusters/tests can vary assignment deterministically. */
  placementSeed: number;
  /** Topic ids. Inject a seeded generator for deterministic tests. */
  newUuid: () => string;
  /**
   * TEST-ONLY mutation switch: elect leaders without checking ISR membership. Exists so tests can prove
   * the invariant checker catches an election outside the ISR. Never set it in a real cluster.
   */
  unsafeIgnoreIsrInElection?: boolean;
}

export const DEFAULT_SESSION_TIMEOUT_MS = 9000;

export interface ControllerResult<T> {
  /** Records to append through Raft, in order, as one atomic batch. Empty when nothing changes. */
  records: MetadataRecord[];
  response: T;
}

const code = (name: ErrorName): number => ERROR_CODES[name];

// ---- topic names ---------------------------------------------------------------------------------

/** FNV-1a of a string, for deterministic per-topic placement offsets. */
function hashString(s: string): number {
  let h = 0x811c9dc5;
  for (let i = 0; i < s.length; i++) {
    h ^= s.charCodeAt(i);
    h = Math.imul(h, 0x01000193) >>> 0;
  }
  return h;
}

// ---- elections and partition changes ---------------------------------------------------------------

/**
 * Picks a leader: the first replica (in replica order) that is acceptable and in the ISR; failing that,
 * with `unclean`, the first acceptable replica at all (flagged unclean); otherwise NO_LEADER.
 */
export function electLeader(
  replicas: readonly number[],
  isr: readonly number[],
  acceptable: (id: number) => boolean,
  unclean: boolean,
  ignoreIsr = false,
): { leader: number; unclean: boolean } {
  let firstAcceptable = NO_LEADER;
  for (const r of replicas) {
    if (!acceptable(r)) continue;
    if (firstAcceptable === NO_LEADER) firstAcceptable = r;
    if (ignoreIsr || isr.includes(r)) return { leader: r, unclean: false };
  }
  if (unclean && firstAcceptable !== NO_LEADER) return { leader: firstAcceptable, unclean: true };
  return { leader: NO_LEADER, unclean: false };
}

interface ChangeTarget {
  isr?: readonly number[];
  replicas?: readonly number[];
  addingReplicas?: readonly number[];
  removingReplicas?: readonly number[];
  leaderRecoveryState?: number;
  /** "preferred": move leadership to the first replica when it is eligible. */
  election?: "keep" | "preferred";
  unclean?: boolean;
}

function sameList(a: readonly number[], b: readonly number[]): boolean {
  return a.length === b.length && a.every((x, i) => x === b[i]);
}

/** One ongoing working image plus the records that produced it from the input image. */
class Work {
  readonly draft: ImageDraft;
  readonly records: MetadataRecord[] = [];

  constructor(image: MetadataImage) {
    this.draft = new ImageDraft(image);
  }

  get image(): MetadataImage {
    return this.draft.view;
  }

  add(record: MetadataRecord): void {
    this.draft.apply(record);
    this.records.push(record);
  }
}

/** Partitions in a deterministic order (topic name, then index). */
function sortedPartitions(image: MetadataImage): { topic: TopicImage; p: PartitionImage }[] {
  const out: { topic: TopicImage; p: PartitionImage }[] = [];
  for (const name of [...image.topicIds.keys()].sort()) {
    const topic = image.topics.get(image.topicIds.get(name)!)!;
    for (const index of [...topic.partitions.keys()].sort((a, b) => a - b)) {
      out.push({ topic, p: topic.partitions.get(index)! });
    }
  }
  return out;
}

export class Controller {
  readonly config: ControllerConfig;
  /** Soft state: broker id → time of the last registration or heartbeat. */
  private readonly lastContact = new Map<number, number>();

  constructor(config: Partial<ControllerConfig> & { clusterId: string }) {
    this.config = {
      sessionTimeoutMs: DEFAULT_SESSION_TIMEOUT_MS,
      uncleanLeaderElection: false,
      defaultNumPartitions: 1,
      defaultReplicationFactor: 1,
      producerIdBlockSize: 1000,
      placementSeed: 0,
      newUuid: () => crypto.randomUUID(),
      ...config,
    };
  }

  // ---- partition changes ----------------------------------------------------------------------------

  /**
   * The PartitionChangeRecord that moves `p` to `target` (electing a leader when the current one is no
   * longer acceptable or not in the new ISR), or null when nothing would change. Setting the leader
   * field, even to the same leader, bumps the leader epoch; this is done on leader changes and when
   * replicas are removed from the assignment.
   */
  private partitionChange(
    image: MetadataImage,
    topicId: string,
    p: PartitionImage,
    target: ChangeTarget,
    exclude: ReadonlySet<number> = new Set(),
  ): PartitionChangeRecord | null {
    const acceptable = (id: number): boolean => !exclude.has(id) && isActiveBroker(image, id);
    const replicas = target.replicas ?? p.replicas;
    let isr = target.isr ?? p.isr;
    let lrs = target.leaderRecoveryState ?? p.leaderRecoveryState;
    const ignoreIsr = this.config.unsafeIgnoreIsrInElection === true;
    const currentOk =
      p.leader !== NO_LEADER && replicas.includes(p.leader) && isr.includes(p.leader) && acceptable(p.leader);
    let leader: number;
    const preferred = replicas[0];
    if (
      target.election === "preferred" &&
      preferred !== undefined &&
      (ignoreIsr || isr.includes(preferred)) &&
      acceptable(preferred)
    ) {
      leader = preferred;
    } else if (currentOk) {
      leader = p.leader;
    } else {
      const e = electLeader(
        replicas,
        isr,
        acceptable,
        target.unclean ?? this.config.uncleanLeaderElection,
        ignoreIsr,
      );
      leader = e.leader;
      if (e.unclean) {
        // Unclean: the new leader's log is the truth now; it alone is in sync until it says otherwise.
        isr = [leader];
        lrs = RECOVERING;
      }
    }
    const rec: PartitionChangeRecord = {
      partitionId: p.partition,
      topicId,
      isr: null,
      leader: NO_LEADER_CHANGE,
      replicas: null,
      removingReplicas: null,
      addingReplicas: null,
      leaderRecoveryState: -1,
    };
    let changed = false;
    if (!sameList(isr, p.isr)) {
      rec.isr = [...isr];
      changed = true;
    }
    if (!sameList(replicas, p.replicas)) {
      rec.replicas = [...replicas];
      changed = true;
    }
    const adding = target.addingReplicas ?? p.addingReplicas;
    if (!sameList(adding, p.addingReplicas)) {
      rec.addingReplicas = [...adding];
      changed = true;
    }
    const removing = target.removingReplicas ?? p.removingReplicas;
    if (!sameList(removing, p.removingReplicas)) {
      rec.removingReplicas = [...removing];
      changed = true;
    }
    const replicaRemoved = p.replicas.some((r) => !replicas.includes(r));
    if (leader !== p.leader || (replicaRemoved && leader !== NO_LEADER)) {
      rec.leader = leader;
      changed = true;
    }
    if (lrs !== p.leaderRecoveryState) {
      rec.leaderRecoveryState = lrs;
      changed = true;
    }
    return changed ? rec : null;
  }

  /** Removes `brokerId` from every ISR it is in (never emptying one) and moves its leaderships away. */
  private moveAwayFrom(work: Work, brokerId: number): void {
    const exclude = new Set([brokerId]);
    for (const { topic, p } of sortedPartitions(work.image)) {
      if (!p.isr.includes(brokerId) && p.leader !== brokerId) continue;
      const isr = p.isr.length > 1 ? p.isr.filter((r) => r !== brokerId) : p.isr;
      const rec = this.partitionChange(work.image, topic.id, p, { isr }, exclude);
      if (rec) work.add({ type: "PartitionChangeRecord", data: rec });
    }
  }

  private fence(work: Work, brokerId: number): void {
    const b = work.image.brokers.get(brokerId)!;
    this.moveAwayFrom(work, brokerId);
    work.add({ type: "FenceBrokerRecord", data: { id: brokerId, epoch: b.epoch } });
  }

  private unfence(work: Work, brokerId: number): void {
    const b = work.image.brokers.get(brokerId)!;
    work.add({ type: "UnfenceBrokerRecord", data: { id: brokerId, epoch: b.epoch } });
    // Partitions left without a leader may have one now.
    for (const { topic, p } of sortedPartitions(work.image)) {
      if (p.leader !== NO_LEADER || !p.replicas.includes(brokerId)) continue;
      const rec = this.partitionChange(work.image, topic.id, p, {});
      if (rec) work.add({ type: "PartitionChangeRecord", data: rec });
    }
  }

  /** Completes `p`'s reassignment once every target replica is in the ISR. */
  private maybeCompleteReassignment(work: Work, topicId: string, index: number): void {
    const p = work.image.topics.get(topicId)?.partitions.get(index);
    if (!p || !isReassigning(p)) return;
    const target = p.replicas.filter((r) => !p.removingReplicas.includes(r));
    if (!target.every((r) => p.isr.includes(r))) return;
    const isr = p.isr.filter((r) => target.includes(r));
    const rec = this.partitionChange(work.image, topicId, p, {
      replicas: target,
      isr,
      addingReplicas: [],
      removingReplicas: [],
    });
    if (rec) work.add({ type: "PartitionChangeRecord", data: rec });
  }

  // ---- brokers --------------------------------------------------------------------------------------

  private sessionAlive(brokerId: number, now: number): boolean {
    const last = this.lastContact.get(brokerId);
    return last !== undefined && now - last <= this.config.sessionTimeoutMs;
  }

  /**
   * Renews a registered broker's session when its heartbeat arrives, before the heartbeat waits its turn
   * among the controller's decisions: a queue of other decisions must not expire live sessions.
   */
  noteHeartbeat(image: MetadataImage, brokerId: number, brokerEpoch: bigint, now: number): void {
    const b = image.brokers.get(brokerId);
    if (b && b.epoch === brokerEpoch)
      this.lastContact.set(brokerId, Math.max(now, this.lastContact.get(brokerId) ?? 0));
  }

  /**
   * A new active controller starts every session afresh. `heardAt` (broker id → when this node last
   * heard from it, e.g. over Raft) back-dates a session, at most half a session timeout: a broker that
   * died with the old controller (whose Raft messages stopped at its death) is fenced about one session
   * timeout after it died, not one after the election, while a live broker still has half a session to
   * send its first heartbeat to the new controller.
   */
  resetSessions(now?: number, heardAt?: ReadonlyMap<number, number>): void {
    this.lastContact.clear();
    if (now === undefined || !heardAt) return;
    const floor = now - this.config.sessionTimeoutMs / 2;
    for (const [id, at] of heardAt) this.lastContact.set(id, Math.max(floor, Math.min(at, now)));
  }

  registerBroker(
    image: MetadataImage,
    req: BrokerRegistrationRequest,
    now: number,
  ): ControllerResult<BrokerRegistrationResponse> {
    const fail = (name: ErrorName): ControllerResult<BrokerRegistrationResponse> => ({
      records: [],
      response: { throttleTimeMs: 0, errorCode: code(name), brokerEpoch: -1n },
    });
    if (req.clusterId !== image.clusterId) return fail("INCONSISTENT_CLUSTER_ID");
    const existing = image.brokers.get(req.brokerId);
    if (existing && existing.incarnationId !== req.incarnationId && this.sessionAlive(req.brokerId, now)) {
      return fail("DUPLICATE_BROKER_REGISTRATION");
    }
    const names = req.listeners.map((l) => l.name);
    if (new Set(names).size !== names.length) return fail("INVALID_REGISTRATION");
    let epoch = BigInt(image.highestOffset + 1);
    for (const b of image.brokers.values()) if (b.epoch >= epoch) epoch = b.epoch + 1n;
    const work = new Work(image);
    // A broker re-registering (a restart) comes back fenced: take its leaderships and ISR places first.
    if (existing && !existing.fenced) this.moveAwayFrom(work, req.brokerId);
    work.add({
      type: "RegisterBrokerRecord",
      data: {
        brokerId: req.brokerId,
        incarnationId: req.incarnationId,
        brokerEpoch: epoch,
        endPoints: req.listeners.map((l) => ({
          name: l.name,
          host: l.host,
          port: l.port,
          securityProtocol: l.securityProtocol,
        })),
        features: req.features.map((f) => ({
          name: f.name,
          minSupportedVersion: f.minSupportedVersion,
          maxSupportedVersion: f.maxSupportedVersion,
        })),
        rack: req.rack,
        fenced: true,
        inControlledShutdown: false,
      },
    });
    this.lastContact.set(req.brokerId, now);
    return { records: work.records, response: { throttleTimeMs: 0, errorCode: 0, brokerEpoch: epoch } };
  }

  /**
   * A broker heartbeat: renews the session; unfences a fenced broker that has caught up with its own
   * registration (`currentMetadataOffset >= brokerEpoch`; the epoch is the offset its registration was
   * expected at); `wantFence` fences; `wantShutDown` starts a controlled shutdown (leaderships moved
   * away, the broker leaves the ISRs) and, once the broker has caught up with that, fences it and says
   * `shouldShutDown`.
   */
  brokerHeartbeat(
    image: MetadataImage,
    req: BrokerHeartbeatRequest,
    now: number,
  ): ControllerResult<BrokerHeartbeatResponse> {
    const reply = (
      errorCode: number,
      isFenced = true,
      shouldShutDown = false,
      isCaughtUp = false,
    ): BrokerHeartbeatResponse => ({ throttleTimeMs: 0, errorCode, isCaughtUp, isFenced, shouldShutDown });
    const b = image.brokers.get(req.brokerId);
    if (!b) return { records: [], response: reply(code("BROKER_ID_NOT_REGISTERED")) };
    if (b.epoch !== req.brokerEpoch) return { records: [], response: reply(code("STALE_BROKER_EPOCH")) };
    this.lastContact.set(b.id, Math.max(now, this.lastContact.get(b.id) ?? 0));
    const caughtUp = req.currentMetadataOffset >= BigInt(image.highestOffset);
    const work = new Work(image);
    let fenced = b.fenced;
    let shutDown = false;
    if (b.inControlledShutdown) {
      const leads = sortedPartitions(image).some(({ p }) => p.leader === b.id);
      if (caughtUp && !leads) {
        if (!b.fenced) this.fence(work, b.id);
        fenced = true;
        shutDown = true;
      }
    } else if (req.wantShutDown) {
      if (b.fenced) {
        shutDown = true;
      } else {
        work.add({
          type: "BrokerRegistrationChangeRecord",
          data: { brokerId: b.id, brokerEpoch: b.epoch, inControlledShutdown: 1 },
        });
        this.moveAwayFrom(work, b.id);
      }
    } else if (b.fenced) {
      if (!req.wantFence && req.currentMetadataOffset >= b.epoch) {
        this.unfence(work, b.id);
        fenced = false;
      }
    } else if (req.wantFence) {
      this.fence(work, b.id);
      fenced = true;
    }
    return { records: work.records, response: reply(0, fenced, shutDown, caughtUp) };
  }

  /** Fences every unfenced broker whose session expired (no heartbeat for longer than the timeout). */
  tick(image: MetadataImage, now: number): ControllerResult<{ fenced: number[] }> {
    const work = new Work(image);
    const fenced: number[] = [];
    for (const id of [...image.brokers.keys()].sort((a, b) => a - b)) {
      const b = work.image.brokers.get(id)!;
      const last = this.lastContact.get(id);
      if (last === undefined) {
        this.lastContact.set(id, now);
        continue;
      }
      if (b.fenced || now - last <= this.config.sessionTimeoutMs) continue;
      this.fence(work, id);
      fenced.push(id);
    }
    return { records: work.records, response: { fenced } };
  }

  /** Removes a broker registration (UnregisterBroker), after moving its leaderships and ISR places. */
  unregisterBroker(image: MetadataImage, brokerId: number): ControllerResult<{ errorCode: number }> {
    const b = image.brokers.get(brokerId);
    if (!b) return { records: [], response: { errorCode: code("BROKER_ID_NOT_REGISTERED") } };
    const work = new Work(image);
    this.moveAwayFrom(work, brokerId);
    work.add({ type: "UnregisterBrokerRecord", data: { brokerId, brokerEpoch: b.epoch } });
    this.lastContact.delete(brokerId);
    return { records: work.records, response: { errorCode: 0 } };
  }

  // ---- topics ---------------------------------------------------------------------------------------

  private usableBrokers(image: MetadataImage): { id: number; rack: string | null }[] {
    return [...image.brokers.values()]
      .filter((b) => !b.fenced && !b.inControlledShutdown)
      .map((b) => ({ id: b.id, rack: b.rack }))
      .sort((a, b) => a.id - b.id);
  }

  private newTopicId(image: MetadataImage): string {
    for (;;) {
      const id = this.config.newUuid().toLowerCase();
      if (id !== ZERO_UUID && id !== METADATA_TOPIC_ID && !image.topics.has(id)) return id;
    }
  }

  /** Validates a manual replica list; returns an error sentence or undefined. */
  private badAssignment(
    image: MetadataImage,
    partition: number,
    brokerIds: readonly number[],
    expectedRf?: number,
  ): string | undefined {
    if (brokerIds.length === 0) return `An empty replica list was specified for partition ${partition}.`;
    if (new Set(brokerIds).size !== brokerIds.length) {
      return `Duplicate replica assignment for partition ${partition}.`;
    }
    for (const id of brokerIds) {
      if (!image.brokers.has(id)) {
        return `The manual partition assignment includes broker ${id}, but no such broker is registered.`;
      }
    }
    if (expectedRf !== undefined && brokerIds.length !== expectedRf) {
      return `The manual partition assignment includes a partition with ${brokerIds.length} replica(s), but this is not consistent with previous partitions, which have ${expectedRf} replica(s).`;
    }
    if (!brokerIds.some((id) => isActiveBroker(image, id))) {
      return `All brokers specified in the manual partition assignment for partition ${partition} are fenced or in controlled shutdown.`;
    }
    return undefined;
  }

  private addPartition(work: Work, topicId: string, index: number, replicas: readonly number[]): void {
    const isr = replicas.filter((r) => isActiveBroker(work.image, r));
    work.add({
      type: "PartitionRecord",
      data: {
        partitionId: index,
        topicId,
        replicas: [...replicas],
        isr,
        removingReplicas: [],
        addingReplicas: [],
        leader: isr[0] ?? NO_LEADER,
        leaderRecoveryState: RECOVERED,
        leaderEpoch: 0,
        partitionEpoch: 0,
      },
    });
  }

  private placementError(rf: number, e: unknown): { error: number; message: string } {
    if (e instanceof PlacementError) {
      return {
        error: code("INVALID_REPLICATION_FACTOR"),
        message: `Unable to replicate the partition ${rf} time(s): ${e.message}`,
      };
    }
    throw e;
  }

  private planTopic(
    work: Work,
    t: CreatableTopic,
  ):
    | { ok: true; configs: Record<string, string>; assignment: number[][] }
    | { ok: false; error: number; message: string } {
    const image = work.image;
    const bad = invalidTopicName(t.name);
    if (bad) return { ok: false, error: code("INVALID_TOPIC_EXCEPTION"), message: bad };
    if (image.topicIds.has(t.name)) {
      return { ok: false, error: code("TOPIC_ALREADY_EXISTS"), message: `Topic '${t.name}' already exists.` };
    }
    const key = collisionKey(t.name);
    for (const other of image.topicIds.keys()) {
      if (collisionKey(other) === key) {
        return {
          ok: false,
          error: code("INVALID_TOPIC_EXCEPTION"),
          message: `Topic '${t.name}' collides with existing topic: ${other}`,
        };
      }
    }
    const cfg = validateTopicConfigs(t.configs.map((c) => ({ name: c.name, value: c.value })));
    if (!cfg.ok) return { ok: false, error: code(cfg.error), message: cfg.message };
    if (t.assignments.length > 0) {
      if (t.replicationFactor !== -1) {
        return {
          ok: false,
          error: code("INVALID_REQUEST"),
          message: "A manual partition assignment was specified, but replication factor was not set to -1.",
        };
      }
      if (t.numPartitions !== -1) {
        return {
          ok: false,
          error: code("INVALID_REQUEST"),
          message: "A manual partition assignment was specified, but numPartitions was not set to -1.",
        };
      }
      const byIndex = new Map<number, number[]>();
      let rf: number | undefined;
      for (const a of t.assignments) {
        if (byIndex.has(a.partitionIndex)) {
          return {
            ok: false,
            error: code("INVALID_REPLICA_ASSIGNMENT"),
            message: `Found multiple manual partition assignments for partition ${a.partitionIndex}`,
          };
        }
        const why = this.badAssignment(image, a.partitionIndex, a.brokerIds, rf);
        if (why) return { ok: false, error: code("INVALID_REPLICA_ASSIGNMENT"), message: why };
        rf = a.brokerIds.length;
        byIndex.set(a.partitionIndex, [...a.brokerIds]);
      }
      const assignment: number[][] = [];
      for (let i = 0; i < byIndex.size; i++) {
        const a = byIndex.get(i);
        if (!a) {
          return {
            ok: false,
            error: code("INVALID_REPLICA_ASSIGNMENT"),
            message: "partitions should be a consecutive 0-based integer sequence",
          };
        }
        assignment.push(a);
      }
      return { ok: true, configs: cfg.configs, assignment };
    }
    const partitions = t.numPartitions === -1 ? this.config.defaultNumPartitions : t.numPartitions;
    const rf = t.replicationFactor === -1 ? this.config.defaultReplicationFactor : t.replicationFactor;
    if (partitions <= 0) {
      return {
        ok: false,
        error: code("INVALID_PARTITIONS"),
        message: "Number of partitions was set to an invalid non-positive value.",
      };
    }
    if (rf <= 0) {
      return {
        ok: false,
        error: code("INVALID_REPLICATION_FACTOR"),
        message: "Replication factor must be larger than 0, or -1 to use the default value.",
      };
    }
    try {
      const seed = (hashString(t.name) + this.config.placementSeed) >>> 0;
      const assignment = placeReplicas(this.usableBrokers(image), 0, partitions, rf, seed);
      return { ok: true, configs: cfg.configs, assignment };
    } catch (e) {
      return { ok: false, ...this.placementError(rf, e) };
    }
  }

  createTopics(image: MetadataImage, req: CreateTopicsRequest): ControllerResult<CreateTopicsResponse> {
    const work = new Work(image);
    const counts = new Map<string, number>();
    for (const t of req.topics) counts.set(t.name, (counts.get(t.name) ?? 0) + 1);
    const reported = new Set<string>();
    const results: CreatableTopicResult[] = [];
    const failed = (name: string, errorCode: number, message: string): CreatableTopicResult => ({
      name,
      topicId: ZERO_UUID,
      errorCode,
      errorMessage: message,
      topicConfigErrorCode: 0,
      numPartitions: -1,
      replicationFactor: -1,
      configs: [],
    });
    for (const t of req.topics) {
      if (counts.get(t.name)! > 1) {
        if (!reported.has(t.name)) {
          reported.add(t.name);
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
      const plan = this.planTopic(work, t);
      if (!plan.ok) {
        results.push(failed(t.name, plan.error, plan.message));
        continue;
      }
      const topicId = this.newTopicId(work.image);
      work.add({ type: "TopicRecord", data: { name: t.name, topicId } });
      for (const name of Object.keys(plan.configs).sort()) {
        work.add({
          type: "ConfigRecord",
          data: { resourceType: RESOURCE_TOPIC, resourceName: t.name, name, value: plan.configs[name] },
        });
      }
      plan.assignment.forEach((replicas, i) => {
        this.addPartition(work, topicId, i, replicas);
      });
      results.push({
        name: t.name,
        topicId: req.validateOnly ? ZERO_UUID : topicId,
        errorCode: 0,
        errorMessage: null,
        topicConfigErrorCode: 0,
        numPartitions: plan.assignment.length,
        replicationFactor: plan.assignment[0].length,
        configs: describeTopicConfigs(plan.configs),
      });
    }
    return {
      records: req.validateOnly ? [] : work.records,
      response: { throttleTimeMs: 0, topics: results },
    };
  }

  deleteTopics(image: MetadataImage, req: DeleteTopicsRequest): ControllerResult<DeleteTopicsResponse> {
    const wanted: { name: string | null; id: string | null }[] =
      req.topics && req.topics.length > 0
        ? req.topics.map((t) => ({ name: t.name, id: t.topicId === ZERO_UUID ? null : t.topicId }))
        : (req.topicNames ?? []).map((name) => ({ name, id: null }));
    const work = new Work(image);
    const seen = new Set<string>();
    const responses: DeletableTopicResult[] = [];
    for (const w of wanted) {
      const out: DeletableTopicResult = {
        name: w.name,
        topicId: w.id ?? ZERO_UUID,
        errorCode: 0,
        errorMessage: null,
      };
      responses.push(out);
      const fail = (name: ErrorName, message: string): void => {
        out.errorCode = code(name);
        out.errorMessage = message;
      };
      if ((w.name === null) === (w.id === null)) {
        fail("INVALID_REQUEST", "Exactly one of topic name or topic id must be given.");
        continue;
      }
      const key = w.id ?? `name:${w.name}`;
      if (seen.has(key)) {
        fail("INVALID_REQUEST", "Duplicate topic name or id in the request.");
        continue;
      }
      seen.add(key);
      const topic = w.id !== null ? work.image.topics.get(w.id) : topicByName(work.image, w.name!);
      if (!topic) {
        if (w.id !== null) fail("UNKNOWN_TOPIC_ID", "This server does not host this topic ID.");
        else fail("UNKNOWN_TOPIC_OR_PARTITION", "This server does not host this topic-partition.");
        continue;
      }
      out.name = topic.name;
      out.topicId = topic.id;
      work.add({ type: "RemoveTopicRecord", data: { topicId: topic.id } });
    }
    return { records: work.records, response: { throttleTimeMs: 0, responses } };
  }

  createPartitions(
    image: MetadataImage,
    req: CreatePartitionsRequest,
  ): ControllerResult<CreatePartitionsResponse> {
    const work = new Work(image);
    const counts = new Map<string, number>();
    for (const t of req.topics) counts.set(t.name, (counts.get(t.name) ?? 0) + 1);
    const results: CreatePartitionsTopicResult[] = [];
    for (const t of req.topics) {
      const out: CreatePartitionsTopicResult = { name: t.name, errorCode: 0, errorMessage: null };
      results.push(out);
      const fail = (name: ErrorName, message: string): void => {
        out.errorCode = code(name);
        out.errorMessage = message;
      };
      if (counts.get(t.name)! > 1) {
        fail("INVALID_REQUEST", "Duplicate topic name.");
        continue;
      }
      const topic = topicByName(work.image, t.name);
      if (!topic) {
        fail("UNKNOWN_TOPIC_OR_PARTITION", "This server does not host this topic-partition.");
        continue;
      }
      const current = topic.partitions.size;
      if (t.count === current) {
        fail("INVALID_PARTITIONS", `Topic already has ${current} partition(s).`);
        continue;
      }
      if (t.count < current) {
        fail(
          "INVALID_PARTITIONS",
          `The topic ${t.name} currently has ${current} partition(s); ${t.count} would not be an increase.`,
        );
        continue;
      }
      const additional = t.count - current;
      if (t.assignments !== null && t.assignments.length !== additional) {
        fail(
          "INVALID_REPLICA_ASSIGNMENT",
          `Attempted to add ${additional} additional partition(s), but only ${t.assignments.length} assignment(s) were specified.`,
        );
        continue;
      }
      const rf = topic.partitions.get(0)!.replicas.length;
      let placements: number[][];
      if (t.assignments !== null) {
        let why: string | undefined;
        t.assignments.forEach((a, i) => {
          why ??= this.badAssignment(work.image, current + i, a.brokerIds, rf);
        });
        if (why) {
          fail("INVALID_REPLICA_ASSIGNMENT", why);
          continue;
        }
        placements = t.assignments.map((a) => [...a.brokerIds]);
      } else {
        try {
          const seed = (hashString(t.name) + this.config.placementSeed) >>> 0;
          placements = placeReplicas(this.usableBrokers(work.image), current, additional, rf, seed);
        } catch (e) {
          const err = this.placementError(rf, e);
          out.errorCode = err.error;
          out.errorMessage = err.message;
          continue;
        }
      }
      placements.forEach((replicas, i) => {
        this.addPartition(work, topic.id, current + i, replicas);
      });
    }
    return { records: req.validateOnly ? [] : work.records, response: { throttleTimeMs: 0, results } };
  }

  incrementalAlterConfigs(
    image: MetadataImage,
    req: IncrementalAlterConfigsRequest,
  ): ControllerResult<IncrementalAlterConfigsResponse> {
    const work = new Work(image);
    const seen = new Map<string, number>();
    for (const r of req.resources) {
      const k = configKey(r.resourceType, r.resourceName);
      seen.set(k, (seen.get(k) ?? 0) + 1);
    }
    const responses: AlterConfigsResourceResponse[] = [];
    for (const res of req.resources) {
      const out: AlterConfigsResourceResponse = {
        errorCode: 0,
        errorMessage: null,
        resourceType: res.resourceType,
        resourceName: res.resourceName,
      };
      responses.push(out);
      const fail = (name: ErrorName, message: string): void => {
        out.errorCode = code(name);
        out.errorMessage = message;
      };
      const key = configKey(res.resourceType, res.resourceName);
      if (seen.get(key)! > 1) {
        fail("INVALID_REQUEST", "Error due to duplicate resource in the request");
        continue;
      }
      let defs: ReadonlyMap<string, ConfigDefLike>;
      if (res.resourceType === RESOURCE_TOPIC) {
        const bad = invalidTopicName(res.resourceName);
        if (bad) {
          fail("INVALID_TOPIC_EXCEPTION", bad);
          continue;
        }
        if (!work.image.topicIds.has(res.resourceName)) {
          fail("UNKNOWN_TOPIC_OR_PARTITION", `The topic '${res.resourceName}' does not exist.`);
          continue;
        }
        defs = TOPIC_CONFIGS;
      } else if (res.resourceType === RESOURCE_BROKER) {
        if (res.resourceName !== "" && !/^\d+$/.test(res.resourceName)) {
          fail("INVALID_REQUEST", `Invalid broker name ${res.resourceName}`);
          continue;
        }
        defs = BROKER_CONFIGS;
      } else {
        fail("INVALID_REQUEST", `Unsupported resource type ${res.resourceType}`);
        continue;
      }
      const names = res.configs.map((c) => c.name);
      if (new Set(names).size !== names.length) {
        fail("INVALID_REQUEST", "Error due to duplicate config keys");
        continue;
      }
      const current = work.image.configs.get(key) ?? new Map<string, string>();
      const changes: { name: string; value: string | null }[] = [];
      let error = false;
      for (const c of res.configs) {
        const def = defs.get(c.name);
        const what = res.resourceType === RESOURCE_TOPIC ? "topic" : "broker";
        if (!def) {
          fail("INVALID_CONFIG", `Unknown ${what} config name: ${c.name}`);
          error = true;
          break;
        }
        let value: string | null;
        if (c.configOperation === OP_SET) {
          if (c.value === null) {
            fail("INVALID_REQUEST", `Null value not supported for : ${c.name}`);
            error = true;
            break;
          }
          value = c.value;
        } else if (c.configOperation === OP_DELETE) {
          value = null;
        } else if (c.configOperation === OP_APPEND || c.configOperation === OP_SUBTRACT) {
          if (def.type !== 7) {
            fail("INVALID_CONFIG", `Config value append is not allowed for config key: ${c.name}`);
            error = true;
            break;
          }
          const now = (current.get(c.name) ?? def.defaultValue).split(",").filter((x) => x !== "");
          const items = (c.value ?? "")
            .split(",")
            .map((x) => x.trim())
            .filter((x) => x !== "");
          value = (
            c.configOperation === OP_APPEND
              ? [...now, ...items.filter((x) => !now.includes(x))]
              : now.filter((x) => !items.includes(x))
          ).join(",");
        } else {
          fail("INVALID_REQUEST", `Unknown config operation ${c.configOperation}`);
          error = true;
          break;
        }
        if (value !== null) {
          const v = def.validate(value);
          if (!v.ok) {
            fail("INVALID_CONFIG", `${v.message} for configuration ${c.name}`);
            error = true;
            break;
          }
          value = v.value;
        }
        changes.push({ name: c.name, value });
      }
      if (error) continue;
      for (const ch of changes) {
        if (ch.value === null && !current.has(ch.name)) continue;
        if (ch.value !== null && current.get(ch.name) === ch.value) continue;
        work.add({
          type: "ConfigRecord",
          data: {
            resourceType: res.resourceType,
            resourceName: res.resourceName,
            name: ch.name,
            value: ch.value,
          },
        });
      }
    }
    return { records: req.validateOnly ? [] : work.records, response: { throttleTimeMs: 0, responses } };
  }

  // ---- partition leadership and ISR -------------------------------------------------------------------

  /**
   * AlterPartition from a partition leader (ISR shrink/expand, leader recovery). Checked in Kafka's order:
   * broker epoch (STALE_BROKER_EPOCH for the whole request), unknown topic/partition, epochs ahead of the
   * controller's (NOT_CONTROLLER), stale leader epoch (FENCED_LEADER_EPOCH), not the leader
   * (INVALID_REQUEST), stale partition epoch (INVALID_UPDATE_VERSION), ISR not ⊆ replicas or missing the
   * leader (INVALID_REQUEST), recovery-state rules (INVALID_REQUEST), fenced/shutting-down/unknown/
   * wrong-epoch ISR members (INELIGIBLE_REPLICA from v2, else OPERATION_NOT_ATTEMPTED). An ISR change that
   * completes a reassignment and moves leadership answers NEW_LEADER_ELECTED (v2+; FENCED_LEADER_EPOCH before).
   */
  alterPartition(
    image: MetadataImage,
    req: AlterPartitionRequest,
    version: number,
  ): ControllerResult<AlterPartitionResponse> {
    const b = image.brokers.get(req.brokerId);
    if (!b || (req.brokerEpoch !== -1n && b.epoch !== req.brokerEpoch)) {
      return {
        records: [],
        response: { throttleTimeMs: 0, errorCode: code("STALE_BROKER_EPOCH"), topics: [] },
      };
    }
    const work = new Work(image);
    const topics: AlterPartitionResponse["topics"] = [];
    for (const td of req.topics) {
      const topic =
        version >= 2
          ? work.image.topics.get(td.topicId ?? ZERO_UUID)
          : topicByName(work.image, td.topicName ?? "");
      const partitions: AlterPartitionResult[] = [];
      topics.push(
        version >= 2 ? { topicId: td.topicId, partitions } : { topicName: td.topicName, partitions },
      );
      const errorOnly = (index: number, name: ErrorName): AlterPartitionResult => ({
        partitionIndex: index,
        errorCode: code(name),
        leaderId: NO_LEADER,
        leaderEpoch: -1,
        isr: [],
        leaderRecoveryState: RECOVERED,
        partitionEpoch: -1,
      });
      for (const pd of td.partitions) {
        if (!topic) {
          partitions.push(
            errorOnly(pd.partitionIndex, version >= 2 ? "UNKNOWN_TOPIC_ID" : "UNKNOWN_TOPIC_OR_PARTITION"),
          );
          continue;
        }
        const p = topic.partitions.get(pd.partitionIndex);
        const newIsrStates =
          version >= 3
            ? (pd.newIsrWithEpochs ?? [])
            : (pd.newIsr ?? []).map((id) => ({ brokerId: id, brokerEpoch: -1n }));
        const newIsr = newIsrStates.map((s) => s.brokerId);
        const lrs = pd.leaderRecoveryState ?? RECOVERED;
        let err: ErrorName | undefined;
        if (!p) err = "UNKNOWN_TOPIC_OR_PARTITION";
        else if (pd.leaderEpoch > p.leaderEpoch || pd.partitionEpoch > p.partitionEpoch)
          err = "NOT_CONTROLLER";
        else if (pd.leaderEpoch < p.leaderEpoch) err = "FENCED_LEADER_EPOCH";
        else if (req.brokerId !== p.leader) err = "INVALID_REQUEST";
        else if (pd.partitionEpoch < p.partitionEpoch) err = "INVALID_UPDATE_VERSION";
        else if (
          newIsr.length === 0 ||
          new Set(newIsr).size !== newIsr.length ||
          newIsr.some((r) => !p.replicas.includes(r)) ||
          !newIsr.includes(p.leader)
        )
          err = "INVALID_REQUEST";
        else if (lrs !== RECOVERED && lrs !== RECOVERING) err = "INVALID_REQUEST";
        else if (lrs === RECOVERING && newIsr.length > 1) err = "INVALID_REQUEST";
        else if (p.leaderRecoveryState === RECOVERED && lrs === RECOVERING) err = "INVALID_REQUEST";
        else {
          const ineligible = newIsrStates.some((s) => {
            const rb = work.image.brokers.get(s.brokerId);
            return (
              !rb ||
              rb.inControlledShutdown ||
              rb.fenced ||
              (s.brokerEpoch !== -1n && rb.epoch !== s.brokerEpoch)
            );
          });
          if (ineligible) err = version > 1 ? "INELIGIBLE_REPLICA" : "OPERATION_NOT_ATTEMPTED";
        }
        if (err !== undefined || !p) {
          partitions.push(errorOnly(pd.partitionIndex, err ?? "UNKNOWN_TOPIC_OR_PARTITION"));
          continue;
        }
        const rec = this.partitionChange(work.image, topic.id, p, { isr: newIsr, leaderRecoveryState: lrs });
        if (rec) work.add({ type: "PartitionChangeRecord", data: rec });
        this.maybeCompleteReassignment(work, topic.id, p.partition);
        const after = work.image.topics.get(topic.id)!.partitions.get(p.partition)!;
        if (after.leader !== req.brokerId) {
          partitions.push(
            errorOnly(pd.partitionIndex, version > 1 ? "NEW_LEADER_ELECTED" : "FENCED_LEADER_EPOCH"),
          );
          continue;
        }
        partitions.push({
          partitionIndex: pd.partitionIndex,
          errorCode: 0,
          leaderId: after.leader,
          leaderEpoch: after.leaderEpoch,
          isr: [...after.isr],
          leaderRecoveryState: after.leaderRecoveryState,
          partitionEpoch: after.partitionEpoch,
        });
      }
    }
    return { records: work.records, response: { throttleTimeMs: 0, errorCode: 0, topics } };
  }

  /**
   * ElectLeaders. PREFERRED (0): move leadership to the first replica when it is an eligible ISR member
   * (ELECTION_NOT_NEEDED when it already leads, PREFERRED_LEADER_NOT_AVAILABLE when it cannot).
   * UNCLEAN (1): only for leaderless partitions; elects from the ISR, else any live replica
   * (ELECTION_NOT_NEEDED when there is a leader, ELIGIBLE_LEADERS_NOT_AVAILABLE when nobody can lead).
   * With `topicPartitions` null every partition is tried and ELECTION_NOT_NEEDED results are left out.
   */
  electLeaders(image: MetadataImage, req: ElectLeadersRequest): ControllerResult<ElectLeadersResponse> {
    const type = req.electionType ?? 0;
    if (type !== 0 && type !== 1) {
      return {
        records: [],
        response: { throttleTimeMs: 0, errorCode: code("INVALID_REQUEST"), replicaElectionResults: [] },
      };
    }
    const work = new Work(image);
    const all = req.topicPartitions === null;
    const wanted: { topic: string; partitions: number[] }[] = all
      ? [...image.topicIds.keys()].sort().map((name) => ({
          topic: name,
          partitions: [...topicByName(image, name)!.partitions.keys()].sort((a, b) => a - b),
        }))
      : req.topicPartitions!.map((t) => ({ topic: t.topic, partitions: t.partitions }));
    const results: ReplicaElectionResult[] = [];
    for (const w of wanted) {
      const partitionResult: PartitionResult[] = [];
      for (const index of w.partitions) {
        const r = this.electOne(work, w.topic, index, type === 1);
        if (all && r.errorCode === code("ELECTION_NOT_NEEDED")) continue;
        partitionResult.push(r);
      }
      if (!all || partitionResult.length > 0) results.push({ topic: w.topic, partitionResult });
    }
    return {
      records: work.records,
      response: { throttleTimeMs: 0, errorCode: 0, replicaElectionResults: results },
    };
  }

  private electOne(work: Work, topicName: string, index: number, unclean: boolean): PartitionResult {
    const result = (name: ErrorName, message: string | null = null): PartitionResult => ({
      partitionId: index,
      errorCode: code(name),
      errorMessage: message,
    });
    const topic = topicByName(work.image, topicName);
    const p = topic?.partitions.get(index);
    if (!topic || !p) return result("UNKNOWN_TOPIC_OR_PARTITION", "The partition does not exist.");
    if (unclean) {
      if (p.leader !== NO_LEADER) return result("ELECTION_NOT_NEEDED", "The partition has a leader.");
      const rec = this.partitionChange(work.image, topic.id, p, { unclean: true });
      if (!rec || rec.leader === NO_LEADER_CHANGE || rec.leader === NO_LEADER) {
        return result("ELIGIBLE_LEADERS_NOT_AVAILABLE", "No replica is available to lead the partition.");
      }
      work.add({ type: "PartitionChangeRecord", data: rec });
      return result("NONE");
    }
    const preferred = p.replicas[0];
    if (p.leader === preferred) return result("ELECTION_NOT_NEEDED", "The preferred replica is the leader.");
    if (!p.isr.includes(preferred) || !isActiveBroker(work.image, preferred)) {
      return result("PREFERRED_LEADER_NOT_AVAILABLE", `The preferred leader ${preferred} is not available.`);
    }
    const rec = this.partitionChange(work.image, topic.id, p, { election: "preferred" });
    if (rec) work.add({ type: "PartitionChangeRecord", data: rec });
    return result("NONE");
  }

  // ---- reassignments --------------------------------------------------------------------------------

  /**
   * AlterPartitionReassignments. A target list starts (or replaces) a reassignment: the replica set
   * becomes target + the replicas being removed, `addingReplicas` = target − current, `removingReplicas`
   * = current − target; it completes (replicas = target, ISR ∩ target, leader re-elected inside the target
   * if needed) once every target replica is in the ISR, at once if they already are. A null list cancels
   * (NO_REASSIGNMENT_IN_PROGRESS when there is none): back to the original replicas.
   */
  alterPartitionReassignments(
    image: MetadataImage,
    req: AlterPartitionReassignmentsRequest,
  ): ControllerResult<AlterPartitionReassignmentsResponse> {
    const work = new Work(image);
    const responses: AlterPartitionReassignmentsResponse["responses"] = [];
    for (const t of req.topics) {
      const partitions: ReassignablePartitionResponse[] = [];
      responses.push({ name: t.name, partitions });
      for (const rp of t.partitions) {
        const out: ReassignablePartitionResponse = {
          partitionIndex: rp.partitionIndex,
          errorCode: 0,
          errorMessage: null,
        };
        partitions.push(out);
        const err = this.reassignOne(work, t.name, rp.partitionIndex, rp.replicas);
        if (err) {
          out.errorCode = code(err.error);
          out.errorMessage = err.message;
        }
      }
    }
    return {
      records: work.records,
      response: { throttleTimeMs: 0, errorCode: 0, errorMessage: null, responses },
    };
  }

  private reassignOne(
    work: Work,
    topicName: string,
    index: number,
    target: number[] | null,
  ): { error: ErrorName; message: string } | undefined {
    const topic = topicByName(work.image, topicName);
    const p = topic?.partitions.get(index);
    if (!topic || !p)
      return { error: "UNKNOWN_TOPIC_OR_PARTITION", message: "The partition does not exist." };
    const original = p.replicas.filter((r) => !p.addingReplicas.includes(r));
    if (target === null) {
      if (!isReassigning(p)) {
        return {
          error: "NO_REASSIGNMENT_IN_PROGRESS",
          message: `No ongoing reassignment for ${topicName}-${index}.`,
        };
      }
      // Back to the original replicas; if none of them is in sync any more, they all become the ISR
      // again (as Kafka's revert does), since the ISR may never be empty.
      const isr = p.isr.filter((r) => original.includes(r));
      const rec = this.partitionChange(work.image, topic.id, p, {
        replicas: original,
        isr: isr.length > 0 ? isr : original,
        addingReplicas: [],
        removingReplicas: [],
      });
      if (rec) work.add({ type: "PartitionChangeRecord", data: rec });
      return undefined;
    }
    if (target.length === 0) {
      return { error: "INVALID_REPLICA_ASSIGNMENT", message: "The replica list cannot be empty." };
    }
    if (new Set(target).size !== target.length) {
      return { error: "INVALID_REPLICA_ASSIGNMENT", message: "The replica list contains duplicates." };
    }
    for (const id of target) {
      if (!work.image.brokers.has(id)) {
        return {
          error: "INVALID_REPLICA_ASSIGNMENT",
          message: `The manual partition assignment includes broker ${id}, but no such broker is registered.`,
        };
      }
    }
    const adding = target.filter((r) => !original.includes(r));
    const removing = original.filter((r) => !target.includes(r));
    const replicas = [...target, ...removing];
    const rec = this.partitionChange(work.image, topic.id, p, {
      replicas,
      isr: p.isr.filter((r) => replicas.includes(r)),
      addingReplicas: adding,
      removingReplicas: removing,
    });
    if (rec) work.add({ type: "PartitionChangeRecord", data: rec });
    this.maybeCompleteReassignment(work, topic.id, index);
    return undefined;
  }

  listPartitionReassignments(
    image: MetadataImage,
    req: ListPartitionReassignmentsRequest,
  ): ListPartitionReassignmentsResponse {
    const topics: OngoingTopicReassignment[] = [];
    const wanted: { name: string; indexes: number[] | null }[] =
      req.topics === null
        ? [...image.topicIds.keys()].sort().map((name) => ({ name, indexes: null }))
        : req.topics.map((t) => ({ name: t.name, indexes: t.partitionIndexes }));
    for (const w of wanted) {
      const topic = topicByName(image, w.name);
      if (!topic) continue;
      const indexes = w.indexes ?? [...topic.partitions.keys()].sort((a, b) => a - b);
      const partitions: OngoingTopicReassignment["partitions"] = [];
      for (const i of indexes) {
        const p = topic.partitions.get(i);
        if (!p || !isReassigning(p)) continue;
        partitions.push({
          partitionIndex: i,
          replicas: [...p.replicas],
          addingReplicas: [...p.addingReplicas],
          removingReplicas: [...p.removingReplicas],
        });
      }
      if (partitions.length > 0) topics.push({ name: w.name, partitions });
    }
    return { throttleTimeMs: 0, errorCode: 0, errorMessage: null, topics };
  }

  // ---- producer ids ---------------------------------------------------------------------------------

  allocateProducerIds(
    image: MetadataImage,
    req: AllocateProducerIdsRequest,
  ): ControllerResult<AllocateProducerIdsResponse> {
    const b = image.brokers.get(req.brokerId);
    if (!b || b.epoch !== req.brokerEpoch) {
      return {
        records: [],
        response: {
          throttleTimeMs: 0,
          errorCode: code("STALE_BROKER_EPOCH"),
          producerIdStart: -1n,
          producerIdLen: -1,
        },
      };
    }
    const size = this.config.producerIdBlockSize;
    const start = image.nextProducerId;
    if (start > 2n ** 63n - 1n - BigInt(size)) {
      return {
        records: [],
        response: {
          throttleTimeMs: 0,
          errorCode: code("UNKNOWN_SERVER_ERROR"),
          producerIdStart: -1n,
          producerIdLen: -1,
        },
      };
    }
    return {
      records: [
        {
          type: "ProducerIdsRecord",
          data: { brokerId: b.id, brokerEpoch: b.epoch, nextProducerId: start + BigInt(size) },
        },
      ],
      response: { throttleTimeMs: 0, errorCode: 0, producerIdStart: start, producerIdLen: size },
    };
  }
}

// ---- configs ----------------------------------------------------------------------------------------

const OP_SET = 0;
const OP_DELETE = 1;
const OP_APPEND = 2;
const OP_SUBTRACT = 3;

interface ConfigDefLike {
  defaultValue: string;
  type: number;
  validate(value: string): { ok: true; value: string } | { ok: false; message: string };
}

function longAtLeast(min: number): ConfigDefLike["validate"] {
  return (value) => {
    const v = value.trim();
    if (!/^-?\d+$/.test(v)) return { ok: false, message: `Invalid value ${value}: not a number.` };
    if (Number(v) < min)
      return { ok: false, message: `Invalid value ${value}: Value must be at least ${min}` };
    return { ok: true, value: String(Number(v)) };
  };
}

/** The dynamic broker configs the controller stores (cluster-wide with name "", or per broker id). */
export const BROKER_CONFIGS: ReadonlyMap<string, ConfigDefLike> = new Map<string, ConfigDefLike>([
  ["log.retention.ms", { defaultValue: "604800000", type: 5, validate: longAtLeast(-1) }],
  ["log.retention.bytes", { defaultValue: "-1", type: 5, validate: longAtLeast(-1) }],
  ["log.segment.bytes", { defaultValue: "1073741824", type: 3, validate: longAtLeast(14) }],
  ["message.max.bytes", { defaultValue: "1048588", type: 3, validate: longAtLeast(0) }],
  ["min.insync.replicas", { defaultValue: "1", type: 3, validate: longAtLeast(1) }],
  [
    "unclean.leader.election.enable",
    {
      defaultValue: "false",
      type: 1,
      validate: (v) =>
        v.trim() === "true" || v.trim() === "false"
          ? { ok: true, value: v.trim() }
          : { ok: false, message: `Invalid value ${v}: Expected value to be either true or false` },
    },
  ],
]);

/** CreateTopics v5+ result configs: every honoured topic config with its value and source. */
export function describeTopicConfigs(overrides: Record<string, string>): CreatableTopicConfigs[] {
  return [...TOPIC_CONFIGS.values()].map((d) => ({
    name: d.name,
    value: overrides[d.name] ?? d.defaultValue,
    readOnly: false,
    configSource: d.name in overrides ? 1 : 5,
    isSensitive: false,
  }));
}
