/**
 * Connects the server to broker/groups (the classic group coordinator): one GroupCoordinator for the
 * node (it is the coordinator of every group), persisted in `<data-dir>/group-state.log`.
 */
import { join } from "node:path";
import { FileGroupStore, GroupCoordinator } from "../groups/index.ts";
import type { RequestContext as GroupRequestContext } from "../groups/types.ts";
import type { RequestContext } from "./apis/types.ts";
import type { Broker } from "./broker.ts";

export const GROUP_STATE_FILE = "group-state.log";

export class GroupsBridge {
  readonly enabled = true;
  private coordinatorInstance: GroupCoordinator | undefined;

  constructor(readonly broker: Broker) {}

  get coordinator(): GroupCoordinator {
    if (!this.coordinatorInstance) throw new Error("group coordinator not started");
    return this.coordinatorInstance;
  }

  async start(): Promise<void> {
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

  async stop(): Promise<void> {
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
