/** Prometheus metrics of one broker, on a private registry (several brokers may share a process in tests). */
import { Counter, collectDefaultMetrics, Gauge, Histogram, Registry } from "prom-client";

export class BrokerMetrics {
  readonly registry = new Registry();
  readonly requests: Counter<"api" | "version">;
  readonly requestErrors: Counter<"api">;
  readonly requestLatency: Histogram<"api">;
  readonly bytesIn: Counter;
  readonly bytesOut: Counter;
  readonly connections: Gauge;
  readonly connectionsClosedMalformed: Counter;
  readonly logEndOffset: Gauge<"topic" | "partition">;
  readonly highWatermark: Gauge<"topic" | "partition">;
  readonly fsyncLatency: Histogram<"kind">;
  readonly messagesIn: Counter<"topic">;

  constructor(labels: Record<string, string> = {}) {
    this.registry.setDefaultLabels(labels);
    const registers = [this.registry];
    this.requests = new Counter({
      name: "gauntlet_broker_requests_total",
      help: "Requests handled, per API name and version",
      labelNames: ["api", "version"],
      registers,
    });
    this.requestErrors = new Counter({
      name: "gauntlet_broker_request_failures_total",
      help: "Requests that failed with an unexpected exception, per API",
      labelNames: ["api"],
      registers,
    });
    this.requestLatency = new Histogram({
      name: "gauntlet_broker_request_latency_seconds",
      help: "Time from a request being read to its response being queued, per API",
      labelNames: ["api"],
      buckets: [0.0001, 0.0005, 0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10, 30],
      registers,
    });
    this.bytesIn = new Counter({
      name: "gauntlet_broker_network_bytes_in_total",
      help: "Bytes read from client sockets",
      registers,
    });
    this.bytesOut = new Counter({
      name: "gauntlet_broker_network_bytes_out_total",
      help: "Bytes written to client sockets",
      registers,
    });
    this.connections = new Gauge({
      name: "gauntlet_broker_connections",
      help: "Open client connections",
      registers,
    });
    this.connectionsClosedMalformed = new Counter({
      name: "gauntlet_broker_malformed_connections_total",
      help: "Connections closed because of a malformed request",
      registers,
    });
    this.logEndOffset = new Gauge({
      name: "gauntlet_broker_log_end_offset",
      help: "Log end offset per partition",
      labelNames: ["topic", "partition"],
      registers,
    });
    this.highWatermark = new Gauge({
      name: "gauntlet_broker_high_watermark",
      help: "High watermark per partition",
      labelNames: ["topic", "partition"],
      registers,
    });
    this.fsyncLatency = new Histogram({
      name: "gauntlet_broker_fsync_latency_seconds",
      help: "fsync latency, per kind of file",
      labelNames: ["kind"],
      buckets: [0.00005, 0.0001, 0.00025, 0.0005, 0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 1],
      registers,
    });
    this.messagesIn = new Counter({
      name: "gauntlet_broker_messages_in_total",
      help: "Records appended, per topic",
      labelNames: ["topic"],
      registers,
    });
    collectDefaultMetrics({ register: this.registry, prefix: "gauntlet_broker_process_" });
  }
}
