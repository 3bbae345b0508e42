/**
 * Connects the server to broker/groups (the classic group coordinator).
 *
 * Single node: one GroupCoordinator for the node (it is the coordinator of every group), persisted in
 * `<data-dir>/group-state.log` (FileGroupStore). Cluster mode: one GroupCoordinator per
 * `__consumer_offsets` partition this node leads, persisted in that replicated partition
 * (`cluster/group-partitions.ts`); `group-state.log` is not used.
 */
import { join } from "node:path";
import type { MetadataImage } from "../controller/metadata-image.ts";
import { FileGroupStore, GroupCoordinator, type GroupService } from "../groups/index.ts";
import type { RequestContext as GroupRequestContext } from "../groups/types.ts";
import type { RequestContext } from "./apis/types.ts";
import type { Broker } from "./broker.ts";
import { GroupPartitions } from "./cluster/group-partitions.ts";

export const GROUP_STATE_FILE = "group-state.log";

export class GroupsBridge {
  readonly enabled = true;
  private coordinatorInstance: GroupCoordinator | undefined;
  /** Cluster mode: the coordinators of the led `__consumer_offsets` partitions; else undefined. */
  readonly partitions: GroupPartitions | undefined;

  constructor(readonly broker: Broker) {
    const cluster = broker.settings.cluster;
    this.partitions = cluster
      ? new GroupPartitions(broker, {
          numPartitions: cluster.offsetsTopicNumPartitions,
          replicationFactor: cluster.offsetsTopicReplicationFactor,
          config: { initialRebalanceDelayMs: broker.settings.groupInitialRebalanceDelayMs },
        })
      : undefined;
  }

  /** What the API handlers call: the node's coordinator, or (cluster mode) the per-partition router. */
  get coordinator(): GroupService {
    if (this.partitions) return this.partitions;
    if (!this.coordinatorInstance) throw new Error("group coordinator not started");
    return this.coordinatorInstance;
  }

  async start(): Promise<void> {
    if (this.partitions) return; // loaded per partition as this node becomes a leader (onImage)
    const store = new FileGroupStore(join(this.broker.settings.dataDir, GROUP_STATE_FILE), {
      fsync: this.broker.settings.flush.kind !== "none",
    });
    this.coordinatorInstance = new GroupCoordinator({
      store,
      config: { initialRebalanceDelayMs: this.broker.settings.groupInitialRebalanceDelayMs },
      onAppendError: (err) => this.broker.log.error({ err }, "group state write failed"),
    });
    await this.coordinatorInstance.start();
  }

  /** Cluster mode: follows `__consumer_offsets` leadership in a newly applied image. */
  onImage(image: MetadataImage): void {
    this.partitions?.onImage(image);
  }

  async stop(): Promise<void> {
    await this.partitions?.stop();
    await this.coordinatorInstance?.stop();
  }

  /** What the coordinator needs to know about a request beyond its body. */
  context(ctx: RequestContext): GroupRequestContext {
    const addr = ctx.connection.socket.remoteAddress ?? "";
    return {
      clientId: ctx.clientId ?? "",
      clientHost: `/${addr.replace(/^::ffff:/, "")}`,
      apiVersion: ctx.apiVersion,
    };
  }
}
