// Divergent-tail truncation, and the mutation test that proves the checker sees its absence.
//
// The scenario makes a leader's log diverge on purpose: both followers are paused (SIGSTOP) while the
// leader acknowledges five acks=1 records alone; the leader is SIGKILLed and the followers resumed, so
// one of them leads the next epoch and takes five acks=all records at the same offsets. The old leader
// restarts as a follower. With truncation (OffsetForLeaderEpoch) it cuts its five orphans and copies
// the new ones; leadership is then walked back to it (controlled shutdowns) and the whole partition is
// drained from it. Every acks=all send and the drain go into a Jepsen-style history for the harness
// checker. acks=1 records may be lost by design (Kafka documents it), so they are recorded as
// indeterminate. With `--unsafe-mutation no-follower-truncation` the old leader keeps its orphans at
// the offsets the acknowledged records own, and the checker must report them lost.
import kafkajs from "kafkajs";
import { afterEach, describe, expect, test } from "vitest";
import { checkHistory } from "../../harness/checker/index.ts";
import type { CheckerReport } from "../../harness/checker/types.ts";
import { describePartitions } from "../../harness/cluster/leaders.ts";
import { HistoryRecorder } from "../../harness/history/recorder.ts";
import { ReferenceCluster } from "../../harness/targets/reference.ts";
import { waitFor as waitForShared } from "./wait-for.ts";

const { Kafka, logLevel } = kafkajs;
const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));
const TOPIC = "divergence";

let cluster: ReferenceCluster | undefined;

afterEach(async () => {
  await cluster?.stop();
  cluster = undefined;
});

const waitFor = <T>(what: string, fn: () => Promise<T | undefined>, timeoutMs = 40_000) =>
  waitForShared(what, fn, timeoutMs);

async function runDivergence(mutation: string | undefined): Promise<CheckerReport> {
  const c = new ReferenceCluster({
    nodes: 3,
    config: {
      "default.replication.factor": 3,
      // followers must stay in the ISR while paused for a moment
      "replica.lag.time.max.ms": 30_000,
      ...(mutation ? { unsafeMutation: mutation } : {}),
    },
  });
  cluster = c;
  await c.start();
  const kafka = new Kafka({
    clientId: "divergence-it",
    brokers: c.bootstrapServers().split(","),
    logLevel: logLevel.NOTHING,
    retry: { retries: 20, initialRetryTime: 100, maxRetryTime: 1000 },
  });
  const admin = kafka.admin();
  await admin.connect();
  await admin.createTopics({
    waitForLeaders: true,
    topics: [{ topic: TOPIC, numPartitions: 1, replicationFactor: 3 }],
  });
  await admin.disconnect();
  const state = async () => (await describePartitions(c.bootstrapServers(), [TOPIC]))[0]!;
  const inSync = async () => ((await state()).isr.length === 3 ? await state() : undefined);

  const recorder = new HistoryRecorder();
  const producer = kafka.producer({ maxInFlightRequests: 1, retry: { retries: 20 } });
  await producer.connect();
  const send = async (value: string, acks: number) => {
    const inv = recorder.invoke("producer-0", "send", { topic: TOPIC, partition: 0, value });
    try {
      const [r] = await producer.send({ topic: TOPIC, acks, messages: [{ value, partition: 0 }] });
      const offset = Number(r!.baseOffset);
      // acks=1 is leader-only: losing it on failover is allowed, so its outcome stays open
      if (acks === 1) recorder.info(inv, "ACKS_1", { offset });
      else recorder.ok(inv, { offset });
    } catch (e) {
      recorder.info(inv, (e as Error).name);
    }
  };

  for (let i = 0; i < 10; i++) await send(`base-${i}`, -1);
  const first = await waitFor("a full ISR", inSync);
  const oldLeader = first.leader;
  const followers = first.replicas.filter((r) => r !== oldLeader);
  for (const f of followers) await c.pause(f);
  for (let i = 0; i < 5; i++) await send(`orphan-${i}`, 1);
  await c.kill(oldLeader);
  for (const f of followers) await c.resume(f);
  await waitFor("a new leader", async () => {
    const s = await state();
    return s.leader > 0 && s.leader !== oldLeader ? s : undefined;
  });
  for (let i = 0; i < 5; i++) await send(`after-${i}`, -1);
  await c.restart(oldLeader);
  await waitFor("the old leader back in the ISR", inSync);

  // Walk leadership back to the old leader: each controlled shutdown hands it to another ISR member.
  for (let step = 0; step < 6; step++) {
    const s = await state();
    if (s.leader === oldLeader) break;
    await c.terminate(s.leader, 30_000);
    await c.restart(s.leader);
    await waitFor("a full ISR again", inSync);
  }
  expect((await state()).leader).toBe(oldLeader);
  await producer.disconnect();

  // Drain the partition from its (old, now again) leader.
  const drain = recorder.invoke("consumer-0", "drain", { topic: TOPIC, partition: 0 });
  const consumer = kafka.consumer({ groupId: `drain-${Date.now()}`, maxWaitTimeInMs: 100 });
  const seen: { offset: number; value: string }[] = [];
  await consumer.connect();
  await consumer.subscribe({ topics: [TOPIC], fromBeginning: true });
  await consumer.run({
    eachMessage: async ({ message }) =>
      void seen.push({ offset: Number(message.offset), value: message.value!.toString() }),
  });
  await waitFor("the drain", async () => (seen.length >= 15 ? true : undefined));
  await sleep(500);
  await consumer.disconnect();
  const end = Math.max(...seen.map((r) => r.offset)) + 1;
  recorder.ok(drain, {
    values: seen.map((r) => ({ topic: TOPIC, partition: 0, offset: r.offset, key: null, value: r.value })),
    endOffsets: [{ topic: TOPIC, partition: 0, offset: end }],
  });
  return checkHistory(recorder.events);
}

describe("divergent-tail truncation", () => {
  test("a restarted old leader cuts its unreplicated tail: the checker finds nothing lost", async () => {
    const report = await runDivergence(undefined);
    expect(report.counts.lost, JSON.stringify(report.anomalies.lost)).toBe(0);
    expect(report.counts.inconsistentOffsets).toBe(0);
    expect(report.valid, report.failures.join(", ")).toBe(true);
  }, 180_000);

  test("mutation: without follower truncation the checker reports the acknowledged records lost", async () => {
    const report = await runDivergence("no-follower-truncation");
    expect(report.valid).toBe(false);
    expect(report.counts.lost).toBeGreaterThan(0);
  }, 180_000);
});
