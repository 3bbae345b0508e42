// A consumer worker process, assigned every partition of the topic from the beginning (no group
// rebalancing). "e2e" mode records produce→consume latency from the monotonic timestamp each value
// starts with, for messages produced inside the window the parent gives; "readback" mode reads until
// it has seen the expected number of messages and reports the time it took.
import Kafka from "node-rdkafka";
import { Histogram } from "../stats.ts";
import { monoMs } from "./clock.ts";
import type { ConsumerInit, ConsumerResult, ParentToWorker, WorkerToParent } from "./protocol.ts";

function send(msg: WorkerToParent): void {
  process.send?.(msg);
}

function fatal(err: unknown): never {
  send({ type: "fatal", message: err instanceof Error ? err.message : String(err) });
  process.exit(1);
}

let consumer: Kafka.KafkaConsumer | undefined;
const latency = new Histogram();
let windowFrom = Number.POSITIVE_INFINITY;
let windowTo = Number.NEGATIVE_INFINITY;
let messages = 0;
let bytes = 0;
let errors = 0;
let firstError: string | undefined;
let startedAt = 0;
let firstAt = 0;
let lastAt = 0;
let cpuStart: NodeJS.CpuUsage | undefined;
let cpuWindow: NodeJS.CpuUsage | undefined;
let finished = false;
let stopAt: number | undefined;

function result(): ConsumerResult {
  const cpu = cpuWindow ?? process.cpuUsage(cpuStart);
  return {
    type: "consumed",
    messages,
    bytes,
    elapsedMs: messages ? lastAt - firstAt : 0,
    totalMs: messages ? lastAt - startedAt : 0,
    latency: latency.toJSON(),
    cpu: { user: cpu.user, system: cpu.system },
    errors,
    firstError,
  };
}

function finish(): void {
  if (finished) return;
  finished = true;
  send(result());
}

async function start(cfg: ConsumerInit): Promise<void> {
  const c = new Kafka.KafkaConsumer(
    {
      "bootstrap.servers": cfg.bootstrap,
      "group.id": `gauntlet-bench-${cfg.mode}-${process.pid}`,
      "client.id": `gauntlet-bench-${cfg.mode}`,
      "enable.auto.commit": false,
      "enable.partition.eof": false,
      "socket.nagle.disable": true,
      "fetch.wait.max.ms": 100,
      "fetch.min.bytes": 1,
      "queued.min.messages": 100_000,
    },
    { "auto.offset.reset": "earliest" },
  );
  await new Promise<void>((resolve, reject) => {
    c.connect({ timeout: 30_000 }, (err) => (err ? reject(err) : resolve()));
  });
  consumer = c;
  c.setDefaultConsumeTimeout(100);
  c.setDefaultConsumeLoopTimeoutDelay(0);
  c.assign(
    Array.from({ length: cfg.partitions }, (_, partition) => ({ topic: cfg.topic, partition, offset: 0 })),
  );
  c.on("data", (m) => {
    const now = monoMs();
    const value = m.value;
    if (!value) return;
    if (messages === 0) firstAt = now;
    messages++;
    bytes += value.length;
    lastAt = now;
    if (cfg.mode === "e2e") {
      if (value.length >= 8) {
        const producedAt = value.readDoubleLE(0);
        if (producedAt >= windowFrom && producedAt < windowTo) latency.record((now - producedAt) * 1000);
      }
      if (stopAt !== undefined && messages >= stopAt) finish();
    } else if (cfg.expected !== undefined && messages >= cfg.expected) {
      finish();
    }
  });
  c.on("event.error", (err) => {
    errors++;
    firstError ??= err.message;
  });
  cpuStart = process.cpuUsage();
  startedAt = monoMs();
  c.consume();
}

process.on("disconnect", () => process.exit(0));
process.on("message", (msg: ParentToWorker) => {
  switch (msg.type) {
    case "init":
      start(msg as ConsumerInit).then(() => send({ type: "ready" }), fatal);
      break;
    case "window":
      // CPU is measured over the window too, by timers on the shared monotonic clock.
      windowFrom = msg.from;
      windowTo = msg.to;
      setTimeout(() => {
        cpuStart = process.cpuUsage();
        setTimeout(() => {
          cpuWindow = process.cpuUsage(cpuStart);
        }, windowTo - monoMs());
      }, windowFrom - monoMs());
      break;
    case "stop":
      if (msg.expected === undefined || messages >= msg.expected) finish();
      else {
        stopAt = msg.expected;
        setTimeout(finish, 30_000);
      }
      break;
    case "close":
      if (consumer) consumer.disconnect(() => process.exit(0));
      else process.exit(0);
      setTimeout(() => process.exit(0), 5000).unref();
      break;
    default:
      break;
  }
});
