// Records a history as the run happens. Each event is written to the sink the moment it is recorded, so
// a crash of the harness keeps everything up to the crash; the file sink writes synchronously for that
// reason (a buffered stream could lose its tail when the process dies).
import { closeSync, openSync, writeSync } from "node:fs";
import { performance } from "node:perf_hooks";
import { formatEvent } from "./jsonl.ts";
import {
  type CompletionType,
  type HistoryEvent,
  NEMESIS_PROCESS,
  type Operation,
  STANDALONE_OPERATIONS,
} from "./types.ts";

/** Time source; injectable so tests produce byte-identical histories. */
export interface Clock {
  /** ms since the epoch */
  wallTime(): number;
  /** monotonic ms */
  monoTime(): number;
}

export const systemClock: Clock = {
  wallTime: () => Date.now(),
  monoTime: () => performance.now(),
};

/** A clock that moves only when told to, for deterministic tests. */
export interface ManualClock extends Clock {
  advance(ms: number): void;
}

export function manualClock(options: { wallStart?: number; monoStart?: number } = {}): ManualClock {
  let elapsed = 0;
  const wallStart = options.wallStart ?? 1_700_000_000_000;
  const monoStart = options.monoStart ?? 0;
  return {
    wallTime: () => wallStart + elapsed,
    monoTime: () => monoStart + elapsed,
    advance: (ms: number) => {
      if (!(ms >= 0)) throw new RangeError(`a clock cannot go backwards (advance(${ms})).`);
      elapsed += ms;
    },
  };
}

/** Where recorded lines go. `write` receives one JSON line without the newline. */
export interface HistorySink {
  write(line: string): void;
  close(): void | Promise<void>;
}

/** Appends lines to a file with synchronous writes: each event is in the OS before record() returns. */
export function fileSink(path: string): HistorySink {
  const fd = openSync(path, "w");
  let open = true;
  return {
    write(line) {
      writeSync(fd, `${line}\n`);
    },
    close() {
      if (open) closeSync(fd);
      open = false;
    },
  };
}

/** Writes lines to a Node writable stream (e.g. process.stdout, a socket). */
export function streamSink(stream: NodeJS.WritableStream): HistorySink {
  return {
    write(line) {
      stream.write(`${line}\n`);
    },
    close() {
      return new Promise<void>((resolve) => {
        stream.end(() => resolve());
      });
    },
  };
}

/** Fields a caller may set; index and times are always assigned by the recorder. */
export type EventFields = Omit<HistoryEvent, "index" | "type" | "process" | "f" | "wallTime" | "monoTime">;

export interface RecorderOptions {
  clock?: Clock;
  sink?: HistorySink;
  /** Keep events in memory for `events` (so the checker can run without re-reading). Default true. */
  keepEvents?: boolean;
}

export class HistoryRecorder {
  private readonly clock: Clock;
  private readonly sink: HistorySink | undefined;
  private readonly keepEvents: boolean;
  private readonly recorded: HistoryEvent[] = [];
  /** The outstanding invoke per process: Jepsen processes are single-threaded. */
  private readonly pendingByProcess = new Map<string, HistoryEvent>();
  private nextIndex = 0;

  constructor(options: RecorderOptions = {}) {
    this.clock = options.clock ?? systemClock;
    this.sink = options.sink;
    this.keepEvents = options.keepEvents ?? true;
  }

  /** Events recorded so far (empty when keepEvents is false). */
  get events(): readonly HistoryEvent[] {
    return this.recorded;
  }

  /** Invokes with no completion yet, e.g. to mark them indeterminate at shutdown. */
  pending(): HistoryEvent[] {
    return [...this.pendingByProcess.values()];
  }

  /** Starts an operation. A process may have only one operation outstanding. */
  invoke(process: string, f: Operation, fields: EventFields = {}): HistoryEvent {
    if (STANDALONE_OPERATIONS.has(f))
      throw new Error(`"${f}" is a standalone event; record it with event().`);
    const outstanding = this.pendingByProcess.get(process);
    if (outstanding) {
      throw new Error(
        `process ${process} invoked ${f} while its ${outstanding.f} (event ${outstanding.index}) is still outstanding; ` +
          "use one process id per concurrent worker.",
      );
    }
    const event = this.append("invoke", process, f, fields);
    this.pendingByProcess.set(process, event);
    this.emit(event);
    return event;
  }

  /**
   * Completes an invoke. Copies topic/partition/key/value from the invoke unless overridden, so every
   * completion line reads on its own, and fills latencyMs from the monotonic clock.
   */
  complete(invocation: HistoryEvent, type: CompletionType, fields: EventFields = {}): HistoryEvent {
    const outstanding = this.pendingByProcess.get(invocation.process);
    if (outstanding !== invocation) {
      throw new Error(
        `event ${invocation.index} (${invocation.process} ${invocation.f}) is not the outstanding invoke of its process.`,
      );
    }
    this.pendingByProcess.delete(invocation.process);
    const inherited: EventFields = {};
    if (invocation.topic !== undefined) inherited.topic = invocation.topic;
    if (invocation.partition !== undefined) inherited.partition = invocation.partition;
    if (invocation.key !== undefined) inherited.key = invocation.key;
    if (invocation.value !== undefined) inherited.value = invocation.value;
    if (invocation.producerId !== undefined) inherited.producerId = invocation.producerId;
    const event = this.append(type, invocation.process, invocation.f, { ...inherited, ...fields });
    if (event.latencyMs === undefined) event.latencyMs = event.monoTime - invocation.monoTime;
    this.emit(event);
    return event;
  }

  ok(invocation: HistoryEvent, fields: EventFields = {}): HistoryEvent {
    return this.complete(invocation, "ok", fields);
  }

  fail(invocation: HistoryEvent, error: string, fields: EventFields = {}): HistoryEvent {
    return this.complete(invocation, "fail", { ...fields, error });
  }

  info(invocation: HistoryEvent, error: string, fields: EventFields = {}): HistoryEvent {
    return this.complete(invocation, "info", { ...fields, error });
  }

  /** A standalone event (rebalance callback, etc.), recorded as type "info". */
  event(process: string, f: Operation, fields: EventFields = {}): HistoryEvent {
    if (!STANDALONE_OPERATIONS.has(f)) {
      throw new Error(`"${f}" is an operation; record it with invoke() and a completion.`);
    }
    const event = this.append("info", process, f, fields);
    this.emit(event);
    return event;
  }

  /** A fault starting or stopping, e.g. nemesis("start", "kill -9 broker-1"). */
  nemesis(fault: "start" | "stop", description: string, fields: EventFields = {}): HistoryEvent {
    return this.event(NEMESIS_PROCESS, "nemesis", { ...fields, fault, description });
  }

  /** Marks the start of a named phase; it lasts until the next phase marker or the end of the run. */
  phase(name: string, description?: string): HistoryEvent {
    return this.event(
      NEMESIS_PROCESS,
      "phase",
      description === undefined ? { phase: name } : { phase: name, description },
    );
  }

  /** Records every outstanding invoke as indeterminate (e.g. at shutdown), then closes the sink. */
  async close(reason = "HISTORY_CLOSED"): Promise<void> {
    for (const invocation of this.pending()) this.info(invocation, reason);
    await this.sink?.close();
  }

  private append(
    type: HistoryEvent["type"],
    process: string,
    f: Operation,
    fields: EventFields,
  ): HistoryEvent {
    const event: HistoryEvent = {
      index: this.nextIndex++,
      type,
      process,
      f,
      wallTime: this.clock.wallTime(),
      monoTime: this.clock.monoTime(),
      ...fields,
    };
    if (this.keepEvents) this.recorded.push(event);
    return event;
  }

  private emit(event: HistoryEvent): void {
    this.sink?.write(formatEvent(event));
  }
}
