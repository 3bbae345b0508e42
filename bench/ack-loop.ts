// Shared by the failover measurements (bench/failover.ts and the failover phase of `npm run bench`):
// a one-record-at-a-time acks=all producer that keeps every acknowledgement time, and a polling wait.
import type kafkajs from "kafkajs";

const sleep = (ms: number) => new Promise((resolve) => setTimeout(resolve, ms));

/** Polls `fn` every 50 ms until it returns a value; throws naming `what` (and the last error) after the bound. */
export async function until<T>(
  what: string,
  timeoutMs: number,
  fn: () => Promise<T | undefined>,
): Promise<T> {
  const end = Date.now() + timeoutMs;
  let last: unknown;
  for (;;) {
    try {
      const v = await fn();
      if (v !== undefined) return v;
    } catch (e) {
      last = e;
    }
    if (Date.now() > end) {
      throw new Error(
        `timed out after ${timeoutMs} ms waiting for ${what}${last ? ` (${(last as Error).message})` : ""}`,
      );
    }
    await sleep(50);
  }
}

/** A producer that sends one record at a time to partition 0 and keeps every acknowledgement time. */
export class AckLoop {
  readonly acks: number[] = [];
  private stopped = false;
  private loop: Promise<void> = Promise.resolve();
  constructor(
    private readonly producer: kafkajs.Producer,
    private readonly topic: string,
  ) {}
  start(): void {
    this.loop = (async () => {
      let i = 0;
      while (!this.stopped) {
        try {
          await this.producer.send({
            topic: this.topic,
            acks: -1,
            messages: [{ value: `v${i++}`, partition: 0 }],
          });
          this.acks.push(Date.now());
        } catch {
          await sleep(20);
        }
      }
    })();
  }
  firstAckAfter(t: number): number | undefined {
    return this.acks.find((a) => a > t);
  }
  longestGap(from: number, to: number): number {
    const inside = this.acks.filter((a) => a >= from && a <= to);
    let longest = inside.length ? inside[0]! - from : to - from;
    for (let i = 1; i < inside.length; i++) longest = Math.max(longest, inside[i]! - inside[i - 1]!);
    if (inside.length) longest = Math.max(longest, to - inside[inside.length - 1]!);
    return longest;
  }
  async stop(): Promise<void> {
    this.stopped = true;
    await this.loop;
  }
}
