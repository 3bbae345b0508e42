/**
 * GroupCoordinator: the async face of the group state machine for the broker's API handlers.
 *
 * It owns the clock, one timer (armed for the machine's next deadline), the persistence port and the
 * promises of parked requests. Records are appended strictly in order; a response that depends on a
 * write (OffsetCommit, the leader's SyncGroup, ...) resolves only after the write is durable.
 */
import { ERROR_CODES } from "../../protocol/error-codes.ts";
import {
  type Delivery,
  errorResponses,
  type GroupConfig,
  GroupStateMachine,
  type Output,
  type StateMachineOptions,
} from "./state-machine.ts";
import type { GroupStore } from "./store.ts";
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
} from "./types.ts";

const E = ERROR_CODES;
const MAX_TIMER_MS = 2_147_483_647;

export interface GroupCoordinatorOptions {
  store: GroupStore;
  config?: Partial<GroupConfig>;
  /** Milliseconds since the epoch; Date.now by default. */
  clock?: () => number;
  newMemberId?: StateMachineOptions["newMemberId"];
  /** Told about failed appends (the affected requests get error codes regardless). */
  onAppendError?: (err: unknown) => void;
}

type Phase = "loading" | "active" | "stopped";

interface Parked {
  resolve: (response: never) => void;
  /** Answers the parked request with a whole-request error (used on stop). */
  fail: (errorCode: number) => void;
}

/** Kafka's key → __consumer_offsets partition: abs(String.hashCode(groupId)) % partitions. */
export function groupPartition(groupId: string, partitions: number): number {
  let h = 0;
  for (let i = 0; i < groupId.length; i++) h = (Math.imul(31, h) + groupId.charCodeAt(i)) | 0;
  const abs = h === -2147483648 ? 0 : Math.abs(h);
  return abs % partitions;
}

/** The error code carried by a rejected append, or KAFKA_STORAGE_ERROR. */
function appendErrorCode(err: unknown): number {
  const code = (err as { errorCode?: unknown } | null)?.errorCode;
  return typeof code === "number" && code !== E.NONE ? code : E.KAFKA_STORAGE_ERROR;
}

/** What the server's API handlers call: one GroupCoordinator, or a router over several (cluster mode). */
export type GroupService = Pick<
  GroupCoordinator,
  | "joinGroup"
  | "syncGroup"
  | "heartbeat"
  | "leaveGroup"
  | "offsetCommit"
  | "offsetFetch"
  | "offsetDelete"
  | "listGroups"
  | "describeGroups"
  | "deleteGroups"
>;

export class GroupCoordinator {
  readonly machine: GroupStateMachine;
  private readonly store: GroupStore;
  private readonly clock: () => number;
  private readonly onAppendError: (err: unknown) => void;
  private phase: Phase = "loading";
  private readonly parked = new Map<number, Parked>();
  private nextRid = 1;
  private timer: NodeJS.Timeout | undefined;
  private timerAt: number | undefined;
  private appends: Promise<void> = Promise.resolve();

  constructor(options: GroupCoordinatorOptions) {
    this.store = options.store;
    this.clock = options.clock ?? Date.now;
    this.onAppendError = options.onAppendError ?? (() => {});
    this.machine = new GroupStateMachine({ config: options.config, newMemberId: options.newMemberId });
  }

  /** Loads the persisted groups and offsets; until it resolves every API answers COORDINATOR_LOAD_IN_PROGRESS. */
  async start(): Promise<void> {
    const records = await this.store.load();
    // Stopped while loading (a coordinator unloaded before it finished): stay stopped.
    if (this.phase === "stopped") return;
    this.machine.load(records, this.clock());
    this.phase = "active";
    this.reschedule();
  }

  /** Stops the timer, waits for queued writes, answers parked requests with NOT_COORDINATOR. */
  async stop(): Promise<void> {
    this.phase = "stopped";
    if (this.timer) clearTimeout(this.timer);
    this.timer = undefined;
    this.timerAt = undefined;
    await this.appends;
    for (const p of this.parked.values()) p.fail(E.NOT_COORDINATOR);
    this.parked.clear();
  }

  get isActive(): boolean {
    return this.phase === "active";
  }

  get isLoading(): boolean {
    return this.phase === "loading";
  }

  /** Number of requests waiting for a rebalance, a leader or a write. */
  get parkedRequests(): number {
    return this.parked.size;
  }

  // ---- APIs --------------------------------------------------------------------------------------

  joinGroup(req: JoinGroupRequest, ctx: RequestContext): Promise<JoinGroupResponse> {
    return this.park(
      (code) => errorResponses.joinGroup(req, code),
      (rid, now) => this.machine.joinGroup(rid, req, ctx, now),
    );
  }

  syncGroup(req: SyncGroupRequest, ctx: RequestContext): Promise<SyncGroupResponse> {
    return this.park(
      (code) => errorResponses.syncGroup(req, code),
      (rid, now) => this.machine.syncGroup(rid, req, ctx, now),
    );
  }

  heartbeat(req: HeartbeatRequest): Promise<HeartbeatResponse> {
    return this.park(
      (code) => errorResponses.heartbeat(req, code),
      (rid, now) => this.machine.heartbeat(rid, req, now),
    );
  }

  leaveGroup(req: LeaveGroupRequest): Promise<LeaveGroupResponse> {
    return this.park(
      (code) => errorResponses.leaveGroup(req, code),
      (rid, now) => this.machine.leaveGroup(rid, req, now),
    );
  }

  offsetCommit(req: OffsetCommitRequest, ctx: RequestContext): Promise<OffsetCommitResponse> {
    return this.park(
      (code) => errorResponses.offsetCommit(req, code),
      (rid, now) => this.machine.offsetCommit(rid, req, ctx, now),
    );
  }

  offsetDelete(req: OffsetDeleteRequest): Promise<OffsetDeleteResponse> {
    return this.park(
      (code) => errorResponses.offsetDelete(req, code),
      (rid, now) => this.machine.offsetDelete(rid, req, now),
    );
  }

  deleteGroups(req: DeleteGroupsRequest): Promise<DeleteGroupsResponse> {
    return this.park(
      (code) => errorResponses.deleteGroups(req, code),
      (rid, now) => this.machine.deleteGroups(rid, req, now),
    );
  }

  async offsetFetch(req: OffsetFetchRequest): Promise<OffsetFetchResponse> {
    const code = this.unavailableCode();
    if (code !== E.NONE) return errorResponses.offsetFetch(req, code);
    const { response, output } = this.machine.offsetFetch(req, this.clock());
    this.handle(output);
    return response;
  }

  async listGroups(req: ListGroupsRequest): Promise<ListGroupsResponse> {
    const code = this.unavailableCode();
    if (code !== E.NONE) return errorResponses.listGroups(req, code);
    const { response, output } = this.machine.listGroups(req, this.clock());
    this.handle(output);
    return response;
  }

  async describeGroups(req: DescribeGroupsRequest): Promise<DescribeGroupsResponse> {
    const code = this.unavailableCode();
    if (code !== E.NONE) return errorResponses.describeGroups(req, code);
    const { response, output } = this.machine.describeGroups(req, this.clock());
    this.handle(output);
    return response;
  }

  /** Fires due timeouts now (the timer does this by itself; exposed for tests and shutdown paths). */
  tick(): void {
    if (this.phase !== "active") return;
    this.handle(this.machine.tick(this.clock()));
  }

  // ---- plumbing ------------------------------------------------------------------------------------

  private unavailableCode(): number {
    if (this.phase === "loading") return E.COORDINATOR_LOAD_IN_PROGRESS;
    if (this.phase === "stopped") return E.NOT_COORDINATOR;
    return E.NONE;
  }

  private park<R>(fail: (code: number) => R, run: (rid: number, now: number) => Output): Promise<R> {
    const code = this.unavailableCode();
    if (code !== E.NONE) return Promise.resolve(fail(code));
    const rid = this.nextRid++;
    return new Promise<R>((resolve, reject) => {
      this.parked.set(rid, {
        resolve: resolve as (response: never) => void,
        fail: (c) => resolve(fail(c)),
      });
      let output: Output;
      try {
        output = run(rid, this.clock());
      } catch (e) {
        this.parked.delete(rid);
        reject(e);
        return;
      }
      this.handle(output);
    });
  }

  private handle(output: Output): void {
    for (const d of output.deliveries) this.deliver(d);
    for (const a of output.appends) {
      this.appends = this.appends.then(async () => {
        let code: number = E.NONE;
        try {
          await this.store.append(a.records);
        } catch (err) {
          code = appendErrorCode(err);
          this.onAppendError(err);
        }
        this.handle(this.machine.appendCompleted(a.id, code, this.clock()));
      });
      // A failure above is a bug; keep later appends flowing.
      this.appends = this.appends.catch((err) => this.onAppendError(err));
    }
    this.reschedule();
  }

  private deliver(d: Delivery): void {
    const p = this.parked.get(d.rid);
    if (!p) return;
    this.parked.delete(d.rid);
    p.resolve(d.response as never);
  }

  private reschedule(): void {
    if (this.phase !== "active") return;
    const at = this.machine.nextDeadline();
    if (at === this.timerAt) return;
    if (this.timer) clearTimeout(this.timer);
    this.timer = undefined;
    this.timerAt = at;
    if (at === undefined) return;
    const delay = Math.min(Math.max(0, at - this.clock()), MAX_TIMER_MS);
    this.timer = setTimeout(() => {
      this.timer = undefined;
      this.timerAt = undefined;
      this.tick();
      this.reschedule();
    }, delay);
    this.timer.unref();
  }
}
