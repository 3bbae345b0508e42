// Types shared by the Raft core, its runtime and the simulator. Everything here is plain data: the core
// never performs I/O, so whatever crosses its boundary (messages, entries, snapshots, Ready) is a value
// the runtime can serialise, persist or send as it likes.

/** Node ids are positive integers; 0 means "nobody" (no vote, no known leader). */
export type NodeId = number;
export const NONE: NodeId = 0;

/**
 * One membership change. `bootstrap` only appears as the first entry of a brand-new cluster (see
 * `bootstrapState`); the others are proposed one at a time through `proposeConfChange`.
 */
export type ConfChange =
  | { type: "bootstrap"; voters: NodeId[] }
  | { type: "addLearner"; node: NodeId }
  | { type: "promote"; node: NodeId }
  | { type: "remove"; node: NodeId };

export interface ConfState {
  voters: NodeId[];
  learners: NodeId[];
}

/** A log entry. Entries with `change` are configuration entries; `data` is then empty. */
export interface Entry {
  index: number;
  term: number;
  data: Uint8Array;
  change?: ConfChange;
}

export interface HardState {
  term: number;
  vote: NodeId;
  commit: number;
}

export interface SnapshotMeta {
  index: number;
  term: number;
  /** The configuration in force at `index`. */
  conf: ConfState;
}

export interface Snapshot {
  meta: SnapshotMeta;
  data: Uint8Array;
}

interface Envelope {
  from: NodeId;
  to: NodeId;
  term: number;
}

export type VoteRequest = Envelope & {
  type: "preVote" | "vote";
  lastIndex: number;
  lastTerm: number;
  /** Set by a candidate campaigning because of TimeoutNow: voters skip their leader-lease check. */
  transfer: boolean;
};
export type VoteResponse = Envelope & { type: "preVoteResp" | "voteResp"; reject: boolean };
export type AppendRequest = Envelope & {
  type: "append";
  prevIndex: number;
  prevTerm: number;
  entries: Entry[];
  commit: number;
};
export type AppendResponse = Envelope & {
  type: "appendResp";
  /** Accepted: the highest index known to match the leader. Rejected: the prevIndex that failed. */
  index: number;
  reject: boolean;
  /** On reject: the follower's best guess of where the logs may agree (largest index <= prevIndex
   *  whose term is <= the leader's prevTerm) and the follower's term there. */
  hintIndex: number;
  hintTerm: number;
};
export type Heartbeat = Envelope & { type: "heartbeat"; commit: number; ctx: string | null };
export type HeartbeatResponse = Envelope & { type: "heartbeatResp"; ctx: string | null };
/** One chunk of an InstallSnapshot transfer: `chunk` holds bytes [offset, offset + chunk.length). */
export type SnapshotChunk = Envelope & {
  type: "snapshot";
  meta: SnapshotMeta;
  offset: number;
  total: number;
  chunk: Uint8Array;
};
/** A follower's progress through a snapshot transfer: it holds bytes [0, offset) of snapshot `index`. */
export type SnapshotResponse = Envelope & { type: "snapshotResp"; index: number; offset: number };
export type TimeoutNow = Envelope & { type: "timeoutNow" };
export type ReadIndexRequest = Envelope & { type: "readIndex"; ctx: string };
export type ReadIndexResponse = Envelope & { type: "readIndexResp"; ctx: string; index: number };

export type Message =
  | VoteRequest
  | VoteResponse
  | AppendRequest
  | AppendResponse
  | Heartbeat
  | HeartbeatResponse
  | SnapshotChunk
  | SnapshotResponse
  | TimeoutNow
  | ReadIndexRequest
  | ReadIndexResponse;

export type MessageType = Message["type"];

/** A ReadIndex result: once the local state machine has applied `index`, the read `ctx` may be served. */
export interface ReadState {
  ctx: string;
  index: number;
}

export type Role = "follower" | "preCandidate" | "candidate" | "leader";

/**
 * Everything the core wants done, handed out by `RaftCore.ready()`. The runtime must process it in
 * this order, then call `advance(ready)`:
 *
 *   1. persist `snapshot` (if any), then delete persisted entries with index >= `truncateFrom` (if
 *      set), append `entries`, store `hardState` (if any) — and fsync all of it;
 *   2. send `messages` (only now: they may promise what step 1 made durable — a vote, an appended entry);
 *   3. restore the state machine from `snapshot` (if any), then apply `committedEntries` in order;
 *   4. serve `readStates` whose index the state machine has applied (now or later);
 *   5. if `snapshotRequest` is set, snapshot the state machine (it has applied exactly
 *      `snapshotRequest.index`), persist it with that metadata, then call `compact(index, data)`;
 *   6. call `advance(ready)`; only then may `ready()` be called again.
 */
export interface Ready {
  hardState: HardState | null;
  /** When set, persisted entries with index >= truncateFrom must be deleted before appending. */
  truncateFrom: number | null;
  entries: Entry[];
  snapshot: Snapshot | null;
  messages: Message[];
  /**
   * Messages the runtime sends BEFORE persisting. Always empty unless `unsafe.grantVoteBeforePersist`
   * is set (a deliberately broken variant for testing the simulator).
   */
  earlyMessages: Message[];
  committedEntries: Entry[];
  readStates: ReadState[];
  /** Metadata (index, term, configuration) of the snapshot the runtime should take, if any. */
  snapshotRequest: SnapshotMeta | null;
}

export type ProposeResult =
  | { ok: true; index: number; term: number }
  | { ok: false; leaderId: NodeId; reason: string };
export type ReadIndexResult = { ok: true } | { ok: false; leaderId: NodeId; reason: string };
