/**
 * Cluster mode's group coordinator: Kafka's layout, one classic group coordinator per
 * `__consumer_offsets` partition this node leads.
 *
 * - A group lives on partition `abs(javaHashCode(groupId)) % partitions` (`groupPartition`); its
 *   coordinator is that partition's leader (FindCoordinator answers it; COORDINATOR_NOT_AVAILABLE
 *   while the partition has no leader). The first FindCoordinator creates the topic through the
 *   controller (offsets.topic.num.partitions, replication factor min(offsets.topic.replication.factor,
 *   cluster size), cleanup.policy=compact).
 * - Each led partition gets a `GroupCoordinator` over a `PartitionGroupStore` whose writes go through
 *   the partition log and are acknowledged once the ISR has them (`OffsetsPartitionLog`). Gaining
 *   leadership (or a new leader epoch) loads the partition's groups from the log (requests for them
 *   get COORDINATOR_LOAD_IN_PROGRESS meanwhile); losing it unloads them (parked requests and later
 *   ones get NOT_COORDINATOR).
 * - This class is also the `GroupService` the API handlers call: it routes each group to its
 *   partition's coordinator, answers NOT_COORDINATOR for groups of partitions other nodes lead, and
 *   splits multi-group requests (OffsetFetch v8+, DescribeGroups, DeleteGroups) per group.
 */
import type { Logger } from "pino";
import { ERROR_CODES } from "../../../protocol/error-codes.ts";
import type { MetadataImage } from "../../controller/metadata-image.ts";
import { NO_LEADER, topicByName } from "../../controller/metadata-image.ts";
import {
  errorResponses,
  type GroupConfig,
  GroupCoordinator,
  type GroupService,
  groupPartition,
  PartitionGroupStore,
} from "../../groups/index.ts";
import type {
  DeleteGroupsRequest,
  DeleteGroupsResponse,
  DescribeGroupsRequest,
  DescribeGroupsResponse,
  HeartbeatRequest,
  HeartbeatResponse,
  JoinGroupRequest,
  JoinGroupResponse,
  LeaveGroupRequest,
  LeaveGroupResponse,
  ListGroupsRequest,
  ListGroupsResponse,
  OffsetCommitRequest,
  OffsetCommitResponse,
  OffsetDeleteRequest,
  OffsetDeleteResponse,
  OffsetFetchRequest,
  OffsetFetchResponse,
  RequestContext,
  SyncGroupRequest,
  SyncGroupResponse,
} from "../../groups/types.ts";
import type { Broker } from "../broker.ts";
import { KAFKA_LISTENER, NotControllerError } from "./metadata-node.ts";
import { OFFSETS_TOPIC, OFFSETS_TOPIC_CONFIGS, OffsetsPartitionLog } from "./offsets-topic.ts";

const E = ERROR_CODES;
/** Delay before retrying a load that failed for another reason than losing leadership. */
const LOAD_RETRY_MS = 1000;

export interface GroupPartitionsOptions {
  /** offsets.topic.num.partitions */
  numPartitions: number;
  /** offsets.topic.replication.factor (capped at the cluster's size) */
  replicationFactor: number;
  config: Partial<GroupConfig>;
}

interface Loaded {
  partition: number;
  leaderEpoch: number;
  coordinator: GroupCoordinator;
  log: OffsetsPartitionLog;
  store: PartitionGroupStore;
  retry?: NodeJS.Timeout;
}

export type CoordinatorAnswer =
  | { ok: true; nodeId: number; host: string; port: number }
  | { ok: false; errorCode: number; message: string };

export class GroupPartitions implements GroupService {
  private readonly loaded = new Map<number, Loaded>();
  private readonly log: Logger;
  private creating: Promise<void> | undefined;
  private stopped = false;

  constructor(
    private readonly broker: Broker,
    private readonly options: GroupPartitionsOptions,
  ) {
    this.log = broker.log.child({ component: "groups" });
  }

  private get image(): MetadataImage {
    return this.broker.cluster!.image;
  }

  // ---- leadership: load and unload -----------------------------------------------------------

  /** Follows the committed image (after the replica manager): loads led partitions, unloads the rest. */
  onImage(image: MetadataImage): void {
    if (this.stopped) return;
    const self = this.broker.nodeId;
    const topic = topicByName(image, OFFSETS_TOPIC);
    const led = new Set<number>();
    for (const p of topic?.partitions.values() ?? []) {
      if (p.leader !== self || !this.broker.topics.partition(OFFSETS_TOPIC, p.partition)) continue;
      led.add(p.partition);
      const current = this.loaded.get(p.partition);
      if (current?.leaderEpoch === p.leaderEpoch) continue;
      if (current) void this.unload(current, "new leader epoch");
      this.load(p.partition, p.leaderEpoch);
    }
    for (const entry of [...this.loaded.values()]) {
      if (!led.has(entry.partition)) void this.unload(entry, "no longer the leader");
    }
  }

  private load(partition: number, leaderEpoch: number): void {
    const log = new OffsetsPartitionLog(this.broker, partition, leaderEpoch);
    const where = { partition: `${OFFSETS_TOPIC}-${partition}`, leaderEpoch };
    const store = new PartitionGroupStore(log, {
      onBadRecord: (err) =>
        this.log.warn({ ...where, err: err.message }, "skipped an undecodable group record"),
    });
    const coordinator = new GroupCoordinator({
      store,
      config: this.options.config,
      onAppendError: (err) => this.log.warn({ ...where, err: (err as Error).message }, "group write failed"),
    });
    const entry: Loaded = { partition, leaderEpoch, coordinator, log, store };
    this.loaded.set(partition, entry);
    const started = performance.now();
    this.log.info(where, "loading groups");
    coordinator.start().then(
      () => {
        if (this.loaded.get(partition) !== entry) return;
        this.log.info(
          {
            ...where,
            groups: coordinator.machine.groupIds().length,
            ms: Math.round(performance.now() - started),
          },
          "groups loaded",
        );
      },
      (err: unknown) => {
        if (this.loaded.get(partition) !== entry || this.stopped) return;
        const code = (err as { errorCode?: number }).errorCode;
        this.log.warn({ ...where, err: (err as Error).message, errorCode: code }, "loading groups failed");
        // Still the leader (else the image would have unloaded it): try again shortly.
        entry.retry = setTimeout(() => {
          if (this.loaded.get(partition) !== entry || this.stopped) return;
          void this.unload(entry, "retrying the load");
          this.onImage(this.image);
        }, LOAD_RETRY_MS);
        entry.retry.unref();
      },
    );
  }

  private unload(entry: Loaded, why: string): Promise<void> {
    if (this.loaded.get(entry.partition) === entry) this.loaded.delete(entry.partition);
    if (entry.retry) clearTimeout(entry.retry);
    entry.log.close();
    void entry.store.close();
    this.log.info(
      { partition: `${OFFSETS_TOPIC}-${entry.partition}`, leaderEpoch: entry.leaderEpoch, why },
      "unloading groups",
    );
    return entry.coordinator.stop();
  }

  async stop(): Promise<void> {
    this.stopped = true;
    await Promise.all([...this.loaded.values()].map((e) => this.unload(e, "broker stopping")));
  }

  // ---- FindCoordinator ----------------------------------------------------------------------------

  /** Creates `__consumer_offsets` through the controller unless it exists (one attempt at a time). */
  ensureOffsetsTopic(): Promise<void> {
    if (topicByName(this.image, OFFSETS_TOPIC)) return Promise.resolve();
    this.creating ??= this.createOffsetsTopic().finally(() => {
      this.creating = undefined;
    });
    return this.creating;
  }

  private async createOffsetsTopic(): Promise<void> {
    const cluster = this.broker.cluster!;
    const size = Math.max(1, this.broker.settings.cluster?.peers.size ?? 0, this.image.brokers.size);
    const replicationFactor = Math.min(this.options.replicationFactor, size);
    try {
      const res = await cluster.call("createTopics", {
        topics: [
          {
            name: OFFSETS_TOPIC,
            numPartitions: this.options.numPartitions,
            replicationFactor,
            assignments: [],
            configs: Object.entries(OFFSETS_TOPIC_CONFIGS).map(([name, value]) => ({ name, value })),
          },
        ],
        timeoutMs: 5000,
        validateOnly: false,
      });
      const t = res.topics[0];
      if (t && t.errorCode !== 0 && t.errorCode !== E.TOPIC_ALREADY_EXISTS) {
        this.log.warn(
          { errorCode: t.errorCode, err: t.errorMessage, replicationFactor },
          `cannot create ${OFFSETS_TOPIC} yet`,
        );
      } else if (t?.errorCode === 0) {
        this.log.info(
          { partitions: this.options.numPartitions, replicationFactor },
          `created the internal topic ${OFFSETS_TOPIC}`,
        );
      }
    } catch (e) {
      if (!(e instanceof NotControllerError)) throw e;
      this.log.warn({ err: e.message }, `cannot create ${OFFSETS_TOPIC}: no active controller`);
    }
  }

  /** FindCoordinator for a group: the leader of its `__consumer_offsets` partition. */
  async findCoordinator(groupId: string): Promise<CoordinatorAnswer> {
    const unavailable: CoordinatorAnswer = {
      ok: false,
      errorCode: E.COORDINATOR_NOT_AVAILABLE,
      message: "The coordinator is not available.",
    };
    // A node that has not caught up since it started may hold a stale or empty image.
    if (!this.broker.cluster!.caughtUp) return unavailable;
    if (!topicByName(this.image, OFFSETS_TOPIC)) await this.ensureOffsetsTopic();
    const image = this.image;
    const topic = topicByName(image, OFFSETS_TOPIC);
    if (!topic || topic.partitions.size === 0) return unavailable;
    const p = topic.partitions.get(groupPartition(groupId, topic.partitions.size));
    if (!p || p.leader === NO_LEADER) return unavailable;
    const b = image.brokers.get(p.leader);
    const ep = b?.endpoints.get(KAFKA_LISTENER);
    if (!b || b.fenced || !ep) return unavailable;
    return { ok: true, nodeId: b.id, host: ep.host, port: ep.port };
  }

  // ---- routing --------------------------------------------------------------------------------------

  /** The coordinator of `groupId` on this node, or the error code for the request. */
  private route(groupId: string): GroupCoordinator | number {
    if (this.stopped || !this.broker.cluster!.caughtUp) return E.NOT_COORDINATOR;
    const topic = topicByName(this.image, OFFSETS_TOPIC);
    if (!topic || topic.partitions.size === 0) return E.NOT_COORDINATOR;
    const index = groupPartition(groupId, topic.partitions.size);
    const p = topic.partitions.get(index);
    if (!p || p.leader !== this.broker.nodeId) return E.NOT_COORDINATOR;
    const entry = this.loaded.get(index);
    // The image already names this node but its load has not started yet.
    if (!entry || entry.leaderEpoch !== p.leaderEpoch) return E.COORDINATOR_LOAD_IN_PROGRESS;
    return entry.coordinator;
  }

  private one<Req, Res>(
    groupId: string,
    req: Req,
    fail: (req: Req, code: number) => Res,
    run: (c: GroupCoordinator) => Promise<Res>,
  ): Promise<Res> {
    if (!groupId) return Promise.resolve(fail(req, E.INVALID_GROUP_ID));
    const c = this.route(groupId);
    return typeof c === "number" ? Promise.resolve(fail(req, c)) : run(c);
  }

  joinGroup(req: JoinGroupRequest, ctx: RequestContext): Promise<JoinGroupResponse> {
    return this.one(req.groupId, req, errorResponses.joinGroup, (c) => c.joinGroup(req, ctx));
  }

  syncGroup(req: SyncGroupRequest, ctx: RequestContext): Promise<SyncGroupResponse> {
    return this.one(req.groupId, req, errorResponses.syncGroup, (c) => c.syncGroup(req, ctx));
  }

  heartbeat(req: HeartbeatRequest): Promise<HeartbeatResponse> {
    return this.one(req.groupId, req, errorResponses.heartbeat, (c) => c.heartbeat(req));
  }

  leaveGroup(req: LeaveGroupRequest): Promise<LeaveGroupResponse> {
    return this.one(req.groupId, req, errorResponses.leaveGroup, (c) => c.leaveGroup(req));
  }

  offsetCommit(req: OffsetCommitRequest, ctx: RequestContext): Promise<OffsetCommitResponse> {
    return this.one(req.groupId, req, errorResponses.offsetCommit, (c) => c.offsetCommit(req, ctx));
  }

  offsetDelete(req: OffsetDeleteRequest): Promise<OffsetDeleteResponse> {
    return this.one(req.groupId, req, errorResponses.offsetDelete, (c) => c.offsetDelete(req));
  }

  async offsetFetch(req: OffsetFetchRequest): Promise<OffsetFetchResponse> {
    const groups = await Promise.all(
      req.groups.map(async (g) => {
        const sub: OffsetFetchRequest = { groups: [g], requireStable: req.requireStable };
        const res = await this.one(g.groupId, sub, errorResponses.offsetFetch, (c) => c.offsetFetch(sub));
        return res.groups[0]!;
      }),
    );
    return { groups };
  }

  async describeGroups(req: DescribeGroupsRequest): Promise<DescribeGroupsResponse> {
    const groups = await Promise.all(
      req.groups.map(async (groupId) => {
        const sub: DescribeGroupsRequest = { ...req, groups: [groupId] };
        const res = await this.one(groupId, sub, errorResponses.describeGroups, (c) => c.describeGroups(sub));
        return res.groups[0]!;
      }),
    );
    return { groups };
  }

  async deleteGroups(req: DeleteGroupsRequest): Promise<DeleteGroupsResponse> {
    const results = await Promise.all(
      req.groupsNames.map(async (groupId) => {
        const sub: DeleteGroupsRequest = { groupsNames: [groupId] };
        const res = await this.one(groupId, sub, errorResponses.deleteGroups, (c) => c.deleteGroups(sub));
        return res.results[0]!;
      }),
    );
    return { results };
  }

  /** The groups of every partition this node coordinates; COORDINATOR_LOAD_IN_PROGRESS while one loads. */
  async listGroups(req: ListGroupsRequest): Promise<ListGroupsResponse> {
    const entries = [...this.loaded.values()];
    if (entries.some((e) => e.coordinator.isLoading)) {
      return errorResponses.listGroups(req, E.COORDINATOR_LOAD_IN_PROGRESS);
    }
    const results = await Promise.all(entries.map((e) => e.coordinator.listGroups(req)));
    // A partition unloaded meanwhile (NOT_COORDINATOR) has moved: its groups are listed by its new leader.
    const failed = results.find((r) => r.errorCode !== 0 && r.errorCode !== E.NOT_COORDINATOR);
    if (failed) return errorResponses.listGroups(req, failed.errorCode);
    return { errorCode: 0, groups: results.flatMap((r) => (r.errorCode === 0 ? r.groups : [])) };
  }
}
