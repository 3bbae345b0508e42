// The leader's view of one follower (or learner): how much of the log it is known to hold and how the
// leader is currently feeding it.
//   probe:     one AppendEntries at a time, to find where the logs agree;
//   replicate: optimistic pipelining, up to `maxInflight` unacknowledged AppendEntries;
//   snapshot:  the follower is behind the compacted log and receives a snapshot in chunks.
export type ProgressState = "probe" | "replicate" | "snapshot";

export class Progress {
  match = 0;
  next: number;
  state: ProgressState = "probe";
  /** probe state: an AppendEntries is outstanding; cleared by any response or heartbeat response. */
  probeSent = false;
  /** replicate state: last index of each unacknowledged AppendEntries, oldest first. */
  inflight: number[] = [];
  /** Heard from since the last check-quorum round. */
  recentActive = true;
  /** snapshot state: the snapshot being streamed and how many bytes the follower holds. */
  snap: { index: number; offset: number } | null = null;

  constructor(
    next: number,
    public isLearner: boolean,
    private readonly maxInflight: number,
  ) {
    this.next = next;
  }

  becomeProbe(): void {
    this.state = "probe";
    this.probeSent = false;
    this.inflight = [];
    this.next = this.match + 1;
    this.snap = null;
  }

  becomeReplicate(): void {
    this.state = "replicate";
    this.probeSent = false;
    this.inflight = [];
    this.next = this.match + 1;
    this.snap = null;
  }

  becomeSnapshot(index: number): void {
    this.state = "snapshot";
    this.inflight = [];
    this.snap = { index, offset: 0 };
  }

  isPaused(): boolean {
    if (this.state === "probe") return this.probeSent;
    if (this.state === "replicate") return this.inflight.length >= this.maxInflight;
    return true;
  }

  /** An acknowledgement of `index`; returns true if it moved `match`. */
  maybeUpdate(index: number): boolean {
    let updated = false;
    if (index > this.match) {
      this.match = index;
      this.probeSent = false;
      updated = true;
    }
    if (this.next < index + 1) this.next = index + 1;
    if (this.state === "replicate") {
      while (this.inflight.length > 0 && this.inflight[0] <= index) this.inflight.shift();
    }
    return updated;
  }

  /**
   * A rejection of the AppendEntries whose prevIndex was `rejected`; `hint` is the highest index the
   * logs may agree on. Returns false for stale rejections (duplicates, reordered responses).
   */
  maybeDecrTo(rejected: number, hint: number): boolean {
    if (this.state === "replicate") {
      if (rejected <= this.match) return false;
      this.next = this.match + 1;
      return true;
    }
    if (this.state === "snapshot") return false;
    if (this.next - 1 !== rejected) return false;
    this.next = Math.max(Math.min(rejected, hint + 1), this.match + 1);
    this.probeSent = false;
    return true;
  }

  /** Records an AppendEntries carrying entries up to `last` (or none). */
  sent(last: number, hadEntries: boolean): void {
    if (this.state === "replicate") {
      if (hadEntries) {
        this.next = last + 1;
        this.inflight.push(last);
      }
    } else if (this.state === "probe") {
      this.probeSent = true;
    }
  }
}
