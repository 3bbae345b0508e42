/**
 * The broker: owns the listener, connections, metadata, partitions and the dispatcher, and runs the
 * request flow socket → frame reader → header/body decode → dispatcher → API handler → storage/groups
 * → encode → socket.
 */

import type { AddressInfo } from "node:net";
import { createServer, type Server, type Socket } from "node:net";
import type { Logger } from "pino";
import { ERROR_CODES } from "../../protocol/error-codes.ts";
import { apis } from "../../protocol/generated/index.ts";
import { AdminServer } from "./admin-server.ts";
import { apiVersions, unsupportedApiVersionsResponse } from "./apis/api-versions.ts";
import { buildErrorResponse } from "./apis/error-response.ts";
import { ALL_HANDLERS } from "./apis/index.ts";
import { stripResponse } from "./apis/strip.ts";
import type { ApiHandler, RequestContext } from "./apis/types.ts";
import { MetadataNode } from "./cluster/metadata-node.ts";
import { reconcileTopics } from "./cluster/reconcile.ts";
import type { BrokerSettings } from "./config.ts";
import { Dispatcher } from "./dispatcher.ts";
import { GroupsBridge } from "./groups-bridge.ts";
import { BrokerMetrics } from "./metrics.ts";
import { CloseConnection, Connection, type FrameHandler } from "./network/connection.ts";
import { decodeRequestHeader, encodeResponseFrame, peekHeader } from "./network/wire-frames.ts";
import { ReplicaManager } from "./replication/replica-manager.ts";
import { AppendNotifier } from "./state/append-notifier.ts";
import { MetadataStore } from "./state/metadata-store.ts";
import { LEADER_EPOCH, TopicManager } from "./state/topics.ts";

/** Producer ids are reserved in blocks persisted ahead of use, so a restart never hands one out twice. */
const PRODUCER_ID_BLOCK = 1000n;
const RETENTION_CHECK_MS = 30_000;
/** Kafka's UnknownServerException message for an unexpected failure while handling a request. */
const UNKNOWN_SERVER_ERROR_MESSAGE =
  "The server experienced an unexpected error when processing the request.";

export class Broker implements FrameHandler {
  readonly metrics: BrokerMetrics;
  readonly store: MetadataStore;
  readonly topics: TopicManager;
  readonly dispatcher: Dispatcher;
  readonly notifier = new AppendNotifier();
  readonly groups: GroupsBridge;
  /** Cluster mode: the Raft metadata node (image, active controller, registration); else undefined. */
  readonly cluster: MetadataNode | undefined;
  /** Cluster mode: partition replication (leader and follower sides); else undefined. */
  readonly replication: ReplicaManager | undefined;
  /** Called when cluster mode hits a fatal condition (main stops the broker and exits 2). */
  onFatal: (message: string) => void = () => {};
  private server: Server | undefined;
  private admin: AdminServer | undefined;
  private readonly connections = new Set<Connection>();
  private serving = false;
  private stopping = false;
  private nextProducerId = 0n;
  private clusterIdBlockEnd = 0n;
  private retentionTimer: NodeJS.Timeout | undefined;
  /** Bound address of the Kafka listener (useful with port 0). */
  listenAddress: AddressInfo | undefined;
  adminAddress: AddressInfo | undefined;

  constructor(
    readonly settings: BrokerSettings,
    readonly log: Logger,
  ) {
    this.metrics = new BrokerMetrics({ node_id: String(settings.nodeId) });
    this.store = new MetadataStore(settings.dataDir, settings.nodeId, settings.cluster?.clusterId);
    this.topics = new TopicManager(this.store, settings, log, this.metrics);
    this.groups = new GroupsBridge(this);
    this.dispatcher = new Dispatcher(ALL_HANDLERS.filter((h) => this.groups.enabled || !h.groupApi));
    this.cluster = settings.cluster
      ? new MetadataNode({
          nodeId: settings.nodeId,
          dataDir: settings.dataDir,
          cluster: settings.cluster,
          kafkaEndpoint: () => ({ host: this.advertisedHost, port: this.advertisedPort }),
          rack: settings.rack,
          log,
          onImage: async (image) => {
            await reconcileTopics(this.topics, image, log);
            await this.replication?.onImage(image);
            this.groups.onImage(image);
          },
          onFatal: (message) => this.onFatal(message),
          registry: this.metrics.registry,
        })
      : undefined;
    this.replication =
      this.cluster && settings.cluster
        ? new ReplicaManager({
            nodeId: settings.nodeId,
            topics: this.topics,
            notifier: this.notifier,
            cluster: this.cluster,
            log,
            replicaLagTimeMaxMs: settings.cluster.replicaLagTimeMaxMs,
            kafkaPeers: settings.cluster.kafkaPeers,
            skipTruncation: settings.cluster.mutations.has("no-follower-truncation"),
          })
        : undefined;
    if (settings.cluster && settings.cluster.mutations.size > 0) {
      log.warn(
        { mutations: [...settings.cluster.mutations] },
        "UNSAFE: known-bad mutations are on (tests only)",
      );
    }
  }

  /** A partition's replicas and ISR in the committed image (cluster mode), else undefined. */
  partitionReplicas(
    topic: string,
    index: number,
  ): { replicas: readonly number[]; isr: readonly number[] } | undefined {
    if (!this.cluster) return undefined;
    const image = this.cluster.image;
    const id = image.topicIds.get(topic);
    return id === undefined ? undefined : image.topics.get(id)?.partitions.get(index);
  }

  /**
   * Whether this node may serve Produce/Fetch/ListOffsets for a partition, and its leader epoch. A
   * single node leads everything at epoch 0; in cluster mode the committed image decides.
   */
  partitionLeadership(topic: string, index: number): { errorCode: number; leaderEpoch: number } {
    if (!this.cluster) return { errorCode: 0, leaderEpoch: LEADER_EPOCH };
    const image = this.cluster.image;
    // a node that has not caught up with the metadata since it started may hold a stale image
    if (!this.cluster.caughtUp) return { errorCode: ERROR_CODES.NOT_LEADER_OR_FOLLOWER, leaderEpoch: -1 };
    const id = image.topicIds.get(topic);
    const p = id === undefined ? undefined : image.topics.get(id)?.partitions.get(index);
    if (!p) return { errorCode: ERROR_CODES.UNKNOWN_TOPIC_OR_PARTITION, leaderEpoch: -1 };
    if (p.leader !== this.nodeId)
      return { errorCode: ERROR_CODES.NOT_LEADER_OR_FOLLOWER, leaderEpoch: p.leaderEpoch };
    return { errorCode: 0, leaderEpoch: p.leaderEpoch };
  }

  get nodeId(): number {
    return this.settings.nodeId;
  }

  get clusterId(): string {
    return this.store.clusterId;
  }

  get isStopping(): boolean {
    return this.stopping;
  }

  async start(): Promise<void> {
    const started = performance.now();
    await this.store.load();
    await this.topics.loadAll();
    this.replication?.start();
    await this.cluster?.start();
    this.nextProducerId = this.store.producerIdBlockEnd;
    await this.groups.start();
    if (this.settings.admin) {
      this.admin = new AdminServer(this.metrics, () => this.serving, this.log);
      this.adminAddress = await this.admin.start(this.settings.admin.host, this.settings.admin.port);
    }
    const server = createServer((socket) => this.accept(socket));
    server.maxConnections = 10_000;
    this.server = server;
    await new Promise<void>((resolve, reject) => {
      server.once("error", reject);
      server.listen(this.settings.listen.port, this.settings.listen.host, () => {
        server.off("error", reject);
        resolve();
      });
    });
    this.listenAddress = server.address() as AddressInfo;
    this.retentionTimer = setInterval(() => void this.topics.enforceRetention(), RETENTION_CHECK_MS);
    this.retentionTimer.unref();
    this.serving = true;
    this.cluster?.startBrokerLifecycle();
    this.log.info(
      {
        nodeId: this.nodeId,
        clusterId: this.clusterId,
        listen: `${this.listenAddress.address}:${this.listenAddress.port}`,
        advertised: `${this.advertisedHost}:${this.advertisedPort}`,
        raft: this.cluster ? this.cluster.raftAddress : null,
        admin: this.adminAddress ? `${this.adminAddress.address}:${this.adminAddress.port}` : null,
        topics: this.topics.list().length,
        apis: this.dispatcher.advertised().length,
        startupMs: Math.round(performance.now() - started),
      },
      "broker ready",
    );
  }

  /** Advertised host/port; with --listen port 0 and no --advertised, the bound port. */
  get advertisedHost(): string {
    return this.settings.advertised.host;
  }

  get advertisedPort(): number {
    return this.settings.advertised.port === 0 && this.listenAddress
      ? this.listenAddress.port
      : this.settings.advertised.port;
  }

  private accept(socket: Socket): void {
    if (this.stopping) {
      socket.destroy();
      return;
    }
    const conn = new Connection(socket, this, this.settings.maxFrameBytes, this.log, {
      bytesIn: (n) => this.metrics.bytesIn.inc(n),
      bytesOut: (n) => this.metrics.bytesOut.inc(n),
      closed: (c) => {
        this.connections.delete(c);
        this.metrics.connections.dec();
      },
    });
    conn.onMalformed(() => this.metrics.connectionsClosedMalformed.inc());
    this.connections.add(conn);
    this.metrics.connections.inc();
  }

  async handleFrame(conn: Connection, frame: Buffer, release?: () => void): Promise<Buffer[] | null> {
    const peek = peekHeader(frame);
    if (!peek) throw new CloseConnection(`request of ${frame.length} bytes is shorter than a request header`);
    const handler = this.dispatcher.get(peek.apiKey);
    if (!handler) throw new CloseConnection(`unknown or unsupported API key ${peek.apiKey}`);
    if (!this.dispatcher.supports(peek.apiKey, peek.apiVersion)) {
      if (handler === this.dispatcher.get(apiVersions.api.apiKey)) {
        // KIP-511: answer in v0 so any client can read which versions to use.
        this.metrics.requests.inc({ api: handler.api.name, version: String(peek.apiVersion) });
        return encodeResponseFrame(apiVersions.api, 0, peek.correlationId, unsupportedApiVersionsResponse());
      }
      throw new CloseConnection(`unsupported version ${peek.apiVersion} of API ${handler.api.name}`);
    }
    const version = peek.apiVersion;
    const { header, body } = decodeRequestHeader(frame, handler.api.requestHeaderVersion(version));
    const request = handler.api.decodeRequest(body, version);
    const started = performance.now();
    const ctx: RequestContext = {
      broker: this,
      connection: conn,
      apiVersion: version,
      correlationId: header.correlationId,
      clientId: header.clientId,
      log: conn.log,
      releaseConnection: release,
    };
    let response: unknown;
    try {
      response = await handler.handle(ctx, request);
    } catch (e) {
      this.metrics.requestErrors.inc({ api: handler.api.name });
      // A handler asking to close the connection (Produce acks=0 failures) gets its way.
      if (e instanceof CloseConnection) throw e;
      // Kafka answers a request whose handling failed with the API's error response
      // (UNKNOWN_SERVER_ERROR) and keeps the connection; acks=0 produce requests get no response,
      // so, as in Kafka, their connection is closed instead.
      response = this.errorResponse(ctx, handler, request, e);
      if (response === undefined) throw e;
    }
    this.metrics.requests.inc({ api: handler.api.name, version: String(version) });
    this.metrics.requestLatency.observe({ api: handler.api.name }, (performance.now() - started) / 1000);
    if (response === null) return null;
    stripResponse(handler.api.name, response, version);
    try {
      return encodeResponseFrame(handler.api, version, header.correlationId, response);
    } catch (e) {
      // Our bug, not the client's: report it as such (the connection is closed either way).
      throw new Error(`cannot encode ${handler.api.name} v${version} response: ${(e as Error).message}`);
    }
  }

  /** The API's error response for a request whose handler threw, or undefined when there is none. */
  private errorResponse(ctx: RequestContext, handler: ApiHandler, request: unknown, e: unknown): unknown {
    const api = handler.api;
    if (api.apiKey === apis.Produce.apiKey && (request as { acks?: number }).acks === 0) return undefined;
    let response: unknown;
    try {
      response = buildErrorResponse(
        api,
        request,
        ctx.apiVersion,
        ERROR_CODES.UNKNOWN_SERVER_ERROR,
        UNKNOWN_SERVER_ERROR_MESSAGE,
      );
    } catch (buildError) {
      ctx.log.error({ err: buildError, api: api.name }, "cannot build an error response");
      return undefined;
    }
    if (response !== undefined) {
      ctx.log.error(
        { err: e, api: api.name, version: ctx.apiVersion, correlationId: ctx.correlationId },
        "request failed unexpectedly; answering UNKNOWN_SERVER_ERROR",
      );
    }
    return response;
  }

  /** Allocates a producer id, reserving a new persisted block when the current one is used up. */
  async allocateProducerId(): Promise<bigint> {
    if (this.cluster) {
      // Cluster mode: blocks come from the controller (AllocateProducerIds), never reused across brokers.
      if (this.nextProducerId >= this.clusterIdBlockEnd) {
        const r = await this.cluster.call("allocateProducerIds", {
          brokerId: this.nodeId,
          brokerEpoch: this.cluster.brokerEpoch,
        });
        if (r.errorCode !== 0) throw new Error(`producer id allocation failed with error ${r.errorCode}`);
        this.nextProducerId = r.producerIdStart;
        this.clusterIdBlockEnd = r.producerIdStart + BigInt(r.producerIdLen);
      }
      return this.nextProducerId++;
    }
    if (this.nextProducerId >= this.store.producerIdBlockEnd) {
      this.store.producerIdBlockEnd = this.nextProducerId + PRODUCER_ID_BLOCK;
      await this.store.save();
    }
    return this.nextProducerId++;
  }

  /** Graceful stop: refuse new connections, drain in-flight requests (bounded), flush and close logs. */
  async stop(): Promise<void> {
    if (this.stopping) return;
    this.stopping = true;
    this.serving = false;
    const started = performance.now();
    this.log.info({ connections: this.connections.size }, "broker stopping");
    // Cluster mode: controlled shutdown first, still serving, so leaderships move while clients and
    // followers can follow them (Kafka's order).
    if (this.cluster) await this.cluster.controlledShutdown(this.settings.shutdownTimeoutMs);
    if (this.retentionTimer) clearInterval(this.retentionTimer);
    const server = this.server;
    const closed = server ? new Promise<void>((resolve) => server.close(() => resolve())) : Promise.resolve();
    // Long polls return early with what they have.
    this.notifier.wakeAll();
    const drains = [...this.connections].map((c) => c.drain());
    let timer: NodeJS.Timeout | undefined;
    const timedOut = await Promise.race([
      Promise.all(drains).then(() => false),
      new Promise<boolean>((resolve) => {
        timer = setTimeout(() => resolve(true), this.settings.shutdownTimeoutMs);
      }),
    ]);
    if (timer) clearTimeout(timer);
    if (timedOut)
      this.log.warn({ connections: this.connections.size }, "shutdown timeout: closing busy connections");
    for (const c of [...this.connections]) c.destroy();
    await closed;
    await this.replication?.stop();
    await this.cluster?.stop();
    await this.groups.stop();
    await this.topics.closeAll();
    await this.store.save().catch((e) => this.log.error({ err: (e as Error).message }, "state save failed"));
    await this.admin?.stop();
    this.log.info({ shutdownMs: Math.round(performance.now() - started) }, "broker stopped");
  }
}
