// Entry point of a worker process: one client in one role, spawned by the runner with an IPC channel
// (`node --import tsx worker-main.ts`). The first IPC message is the job; history events go back over
// IPC as they happen (see WorkerMessage in types.ts); `stop` asks the worker to finish its outstanding
// operations and exit. The worker dies at once when the IPC channel closes, i.e. when the runner is
// gone, however it died.
import type { EventFields } from "../history/recorder.ts";
import type { EventType, Operation } from "../history/types.ts";
import type { EventSink, ParentMessage, WorkerMessage } from "./types.ts";
import { validateDrainSpec, validateSpec } from "./types.ts";
import { errorName, type WorkerContext } from "./worker-common.ts";

if (!process.send) {
  process.stderr.write("worker-main.ts is started by the workload runner (it needs an IPC channel).\n");
  process.exit(2);
}

function send(message: WorkerMessage): void {
  if (process.connected) process.send!(message);
}

/** Without the runner there is nobody to record for: end at once, taking the client threads along. */
function die(): never {
  process.kill(process.pid, "SIGKILL");
  process.exit(137);
}
process.on("disconnect", die);
// Belt and braces: if the parent vanished without the channel noticing, we were re-parented.
const parentPid = process.ppid;
setInterval(() => {
  if (process.ppid !== parentPid) die();
}, 1000).unref();

let nextId = 0;
const sink: EventSink = {
  invoke(proc: string, f: Operation, fields: EventFields = {}) {
    const id = nextId++;
    send({ t: "invoke", id, process: proc, f, fields });
    return id;
  },
  complete(id: number, type: Exclude<EventType, "invoke">, fields: EventFields = {}) {
    send({ t: "complete", id, type, fields });
  },
  event(proc: string, f: Operation, fields: EventFields = {}) {
    send({ t: "event", process: proc, f, fields });
  },
  log(message: string) {
    send({ t: "log", message });
  },
};

const stopper = new AbortController();

async function finish(message: WorkerMessage, code: number): Promise<never> {
  if (process.connected) {
    await new Promise<void>((resolve) => process.send!(message, undefined, {}, () => resolve()));
  }
  process.exit(code);
}

async function run(start: Extract<ParentMessage, { t: "start" }>): Promise<string> {
  const ctx: WorkerContext = {
    workerId: start.workerId,
    producerId: start.producerId,
    sink,
    stop: stopper.signal,
  };
  const ready = () => send({ t: "ready" });
  const job = start.job;
  if (job.kind === "drain") {
    const spec = validateDrainSpec(job.spec);
    if (spec.client === "kafkajs") {
      const { runKafkajsDrain } = await import("./client-kafkajs.ts");
      return runKafkajsDrain(ctx, spec, job.process, ready);
    }
    const { runRdkafkaDrain } = await import("./client-rdkafka.ts");
    return runRdkafkaDrain(ctx, spec, job.process, ready);
  }
  const spec = validateSpec(job.spec);
  if (spec.client === "kafkajs") {
    const m = await import("./client-kafkajs.ts");
    return spec.role === "producer"
      ? m.runKafkajsProducer(ctx, spec, ready)
      : m.runKafkajsConsumer(ctx, spec, ready);
  }
  const m = await import("./client-rdkafka.ts");
  return spec.role === "producer"
    ? m.runRdkafkaProducer(ctx, spec, ready)
    : m.runRdkafkaConsumer(ctx, spec, ready);
}

let started = false;
process.on("message", (message: ParentMessage) => {
  if (message.t === "stop") {
    stopper.abort();
    return;
  }
  if (message.t !== "start" || started) return;
  started = true;
  run(message).then(
    (reason) => finish({ t: "done", reason }, 0),
    (err) => finish({ t: "fatal", message: `${errorName(err)}: ${(err as Error)?.message ?? err}` }, 1),
  );
});

process.on("uncaughtException", (err) => {
  void finish({ t: "fatal", message: `uncaught ${errorName(err)}: ${err.message}` }, 1);
});
process.on("unhandledRejection", (err) => {
  void finish(
    { t: "fatal", message: `unhandled rejection ${errorName(err)}: ${(err as Error)?.message ?? err}` },
    1,
  );
});
