// A producer worker process: one node-rdkafka producer driven either as fast as the broker acknowledges
// (closed loop, bounded in-flight) or at a fixed rate. Each value starts with the produce time on the
// machine-wide monotonic clock (float64 LE, ms) for the end-to-end consumer. Reports delivery latency
// (produce() → delivery report), throughput inside the measured window and its own CPU use.
import { randomBytes } from "node:crypto";
import Kafka from "node-rdkafka";
import { Histogram } from "../stats.ts";
import { monoMs, sleepUntil } from "./clock.ts";
import type {
  ParentToWorker,
  ProducerInit,
  ProducerResult,
  ProducerRun,
  WorkerToParent,
} from "./protocol.ts";

const QUEUE_FULL = Kafka.CODES.ERRORS.ERR__QUEUE_FULL;

function send(msg: WorkerToParent): void {
  process.send?.(msg);
}

function fatal(err: unknown): never {
  send({ type: "fatal", message: err instanceof Error ? err.message : String(err) });
  process.exit(1);
}

let producer: Kafka.Producer | undefined;
let init: ProducerInit | undefined;

async function connect(cfg: ProducerInit): Promise<void> {
  const p = new Kafka.Producer(
    {
      "bootstrap.servers": cfg.bootstrap,
      "client.id": `gauntlet-bench-producer-${cfg.workerId}`,
      "enable.idempotence": false,
      "compression.codec": "none",
      "linger.ms": cfg.lingerMs,
      "socket.nagle.disable": true,
      "queue.buffering.max.messages": 2_000_000,
      "queue.buffering.max.kbytes": 512 * 1024,
      dr_cb: true,
    },
    { "request.required.acks": cfg.acks === "all" ? -1 : 1, "message.timeout.ms": 120_000 },
  );
  await new Promise<void>((resolve, reject) => {
    p.connect({ timeout: 30_000 }, (err) => (err ? reject(err) : resolve()));
  });
  // Learn the topic's leaders before the clock starts.
  await new Promise<void>((resolve, reject) => {
    p.getMetadata({ topic: cfg.topic, timeout: 30_000 }, (err) => (err ? reject(err) : resolve()));
  });
  producer = p;
}

async function run(cfg: ProducerInit, r: ProducerRun): Promise<ProducerResult> {
  const p = producer!;
  const windowStart = r.startAt + r.warmupMs;
  const windowEnd = windowStart + r.durationMs;
  const value = Buffer.concat([Buffer.alloc(8), randomBytes(Math.max(0, cfg.size - 8))]);
  const latency = new Histogram();
  let inFlight = 0;
  let errors = 0;
  let firstError: string | undefined;
  let delivered = 0;
  let produced = 0;
  let totalProduced = 0;
  let totalDelivered = 0;
  let cpuStart: NodeJS.CpuUsage | undefined;
  let cpuEnd: NodeJS.CpuUsage | undefined;
  let measuredStart = windowStart;
  let measuredEnd = windowEnd;

  p.on("delivery-report", (err, report) => {
    inFlight--;
    const now = monoMs();
    if (err) {
      errors++;
      firstError ??= err.message;
      return;
    }
    totalDelivered++;
    const sentAt = report.opaque as number;
    if (sentAt >= windowStart && sentAt < windowEnd) latency.record((now - sentAt) * 1000);
    if (now >= windowStart && now < windowEnd) delivered++;
  });

  await sleepUntil(r.startAt);
  await new Promise<void>((resolve) => {
    const tick = (): void => {
      const now = monoMs();
      if (!cpuStart && now >= windowStart) {
        cpuStart = process.cpuUsage();
        measuredStart = now;
      }
      if (now >= windowEnd) {
        cpuEnd = process.cpuUsage(cpuStart);
        measuredEnd = now;
        resolve();
        return;
      }
      let budget =
        r.rate > 0
          ? Math.floor(((now - r.startAt) * r.rate) / 1000) - totalProduced
          : cfg.maxInFlight - inFlight;
      while (budget-- > 0) {
        const t = monoMs();
        value.writeDoubleLE(t, 0);
        try {
          p.produce(cfg.topic, null, value, null, null, t);
        } catch (e) {
          const err = e as { code?: number; message?: string };
          if (err.code === QUEUE_FULL) break;
          errors++;
          firstError ??= err.message;
          break;
        }
        inFlight++;
        totalProduced++;
        if (t >= windowStart) produced++;
      }
      p.poll();
      setTimeout(tick, 1);
    };
    tick();
  });

  // Drain: wait for the outstanding delivery reports (they still count for latency when produced in the window).
  const drainDeadline = monoMs() + 60_000;
  while (inFlight > 0 && monoMs() < drainDeadline) {
    p.poll();
    await new Promise((resolve) => setTimeout(resolve, 2));
  }
  if (inFlight > 0) {
    errors += inFlight;
    firstError ??= `${inFlight} messages still unacknowledged 60 s after the window ended`;
  }
  return {
    type: "produced",
    workerId: cfg.workerId,
    delivered,
    deliveredBytes: delivered * cfg.size,
    produced,
    errors,
    firstError,
    totalProduced,
    totalDelivered,
    latency: latency.toJSON(),
    cpu: { user: cpuEnd!.user, system: cpuEnd!.system },
    windowMs: measuredEnd - measuredStart,
  };
}

process.on("disconnect", () => process.exit(0));
process.on("message", (msg: ParentToWorker) => {
  switch (msg.type) {
    case "init":
      init = msg as ProducerInit;
      connect(init).then(() => send({ type: "ready" }), fatal);
      break;
    case "run":
      run(init!, msg).then(send, fatal);
      break;
    case "close":
      if (producer) producer.disconnect(5000, () => process.exit(0));
      else process.exit(0);
      setTimeout(() => process.exit(0), 6000).unref();
      break;
    default:
      break;
  }
});
