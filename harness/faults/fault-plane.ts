// The fault plane: every byte between clients and nodes, and between nodes, goes through a Toxiproxy
// proxy this class created, so faults are applied by adding toxics to (or disabling) those proxies.
//
//   client proxy   one per node; the node advertises the proxy's address, so after bootstrap a client
//                  can only reach the node through it.
//   link proxy     one per directed node pair and purpose ("replication" or "controller"): the proxy of
//                  link A→B carries the connections node A opens to node B (requests A→B on the
//                  "upstream" stream, responses B→A on the "downstream" stream).
//
// Every fault is recorded through the optional onEvent callback (start when it is in effect, stop when
// it is removed), so a history can include nemesis events.
import { Toxiproxy, type Proxy as ToxiproxyProxy } from "toxiproxy-node-client";
import { LOOPBACK } from "../cluster/ports.ts";
import { registerShutdownHook } from "../cluster/process-supervisor.ts";
import type { AdvertiseFn } from "../cluster/types.ts";
import {
  type StartToxiproxyOptions,
  startToxiproxyServer,
  type ToxiproxyServer,
} from "./toxiproxy-server.ts";

export type NodeId = number;

export interface HostPort {
  host: string;
  port: number;
}

export type LinkPurpose = "replication" | "controller";
export const LINK_PURPOSES: readonly LinkPurpose[] = ["replication", "controller"];

/** What a proxy is for. */
export type ProxyRole =
  | { role: "client"; nodeId: NodeId }
  | { role: "link"; from: NodeId; to: NodeId; purpose: LinkPurpose };

/** A proxy this plane created. */
export type ProxyInfo = ProxyRole & {
  /** The proxy's name on the Toxiproxy server. */
  name: string;
  /** Where the proxy listens (what gets advertised / configured instead of the upstream). */
  listen: HostPort;
  /** Where the proxy forwards to (the node's real listener). */
  upstream: HostPort;
};

/**
 * What a fault applies to:
 *   - a node id, or { node }: the node's client proxy and every link from or to it;
 *   - { client }: the node's client proxy only;
 *   - { from, to }: the directed link(s) from → to (all purposes unless one is given);
 *   - { between: [A, B] }: every link from a node of A to a node of B and back (both directions).
 */
export type FaultTarget =
  | NodeId
  | { node: NodeId }
  | { client: NodeId }
  | { from: NodeId; to: NodeId; purpose?: LinkPurpose }
  | { between: [NodeId[], NodeId[]]; purpose?: LinkPurpose };

export type FaultKind =
  | "latency"
  | "bandwidth"
  | "partition"
  | "isolate"
  | "cut-client"
  | "refuse"
  | "reset-connections"
  | "datacenters";

/** A nemesis event. `fault` uses the same words as HistoryEvent.fault ("start" | "stop"). */
export interface FaultEvent {
  /** The fault's id (one start and one stop event share it). */
  id: number;
  kind: FaultKind;
  /** For humans and histories, e.g. "partition [1] | [2, 3]". */
  description: string;
  fault: "start" | "stop";
  /** Wall-clock time, ms since the epoch. */
  at: number;
  /** performance.now() at the same moment. */
  mono: number;
  /** Names of the proxies the fault touches. */
  proxies: string[];
}

/**
 * Decides the address node `from` uses to reach node `to` for `purpose`, given `to`'s real listener:
 * the per-link counterpart of AdvertiseFn (see routeLinks() and README: the hook a target needs).
 */
export type PeerAddressFn = (link: {
  from: NodeId;
  to: NodeId;
  purpose: LinkPurpose;
  upstream: HostPort;
  /**
   * Where the link's proxy must listen, when the target cannot take any address: Kafka's KRaft
   * followers reach the leader at the address it advertises itself, so the harness gives every link
   * into node j the same port on a loopback address of its own (127.0.<from>.<to>) and a per-JVM
   * hosts file maps node j's name there.
   */
  listen?: HostPort;
}) => HostPort | Promise<HostPort>;

export interface LatencySpec {
  /** Delay added to each direction of the link (so a round trip through it takes >= 2 × latencyMs). */
  latencyMs: number;
  /** Random variation, +/- jitterMs (default 0). */
  jitterMs?: number;
}

export interface BandwidthSpec {
  /** Rate limit per direction, in KB/s. */
  rateKBps: number;
}

/** A fault in effect; stop() removes it (and records its stop event). */
export interface ActiveFault {
  readonly id: number;
  readonly kind: FaultKind;
  readonly description: string;
  readonly proxies: readonly string[];
  stop(): Promise<void>;
}

export interface FaultPlaneOptions {
  /** Base URL of the Toxiproxy API, e.g. "http://127.0.0.1:8474". */
  url: string;
  /** Called for every fault start and stop. */
  onEvent?: (event: FaultEvent) => void;
  /** Prefix of every proxy name (default "gauntlet-<pid>-<random>"); names identify this plane's proxies. */
  namePrefix?: string;
  /** Host proxies listen on (default 127.0.0.1). */
  listenHost?: string;
  /** Where proxies listen and which address is handed out for them (default: listenHost, random port). */
  placement?: ProxyPlacement;
}

/**
 * Where a Toxiproxy server puts proxies. The default (a server on the host) listens on a random
 * loopback port and hands that address out. A server in a container (docker backend) listens inside
 * the container: link proxies are reached by the container's alias on the cluster's network, client
 * proxies through a port the container publishes on the host.
 */
export interface ProxyPlacement {
  /** What to give Toxiproxy as a new proxy's listen field, and how to turn the address it reports into the one handed out. */
  listen(role: "client" | "link"): { listen: string; address(reported: HostPort): HostPort };
  /** The docker network the proxies sit on; undefined for a server on the host. */
  network?: string;
}

export interface OpenFaultPlaneOptions extends StartToxiproxyOptions, Omit<FaultPlaneOptions, "url"> {
  /**
   * Run Toxiproxy as a container on a docker network of its own (the docker backend): node containers
   * join plane.network. Default false: a toxiproxy-server process on the host (or TOXIPROXY_URL).
   */
  docker?: boolean;
}

type ToxicType = "latency" | "bandwidth" | "timeout";

interface ToxicSpec {
  type: ToxicType;
  attributes: Record<string, number>;
}

interface ProxyEntry {
  info: ProxyInfo;
  handle: ToxiproxyProxy;
  /** The listen address string exactly as the server reports it (needed to update the proxy). */
  listenRaw: string;
}

interface FaultState {
  id: number;
  kind: FaultKind;
  description: string;
  proxies: string[];
  toxics: { proxy: string; toxic: string }[];
  refused: string[];
  stopped?: Promise<void>;
}

function parseHostPort(address: string): HostPort {
  const i = address.lastIndexOf(":");
  if (i < 0) throw new Error(`Not a host:port address: "${address}".`);
  return { host: address.slice(0, i).replace(/^\[|\]$/g, ""), port: Number(address.slice(i + 1)) };
}

function toHostPort(address: HostPort | string): HostPort {
  return typeof address === "string" ? parseHostPort(address) : { host: address.host, port: address.port };
}

const formatHostPort = (a: HostPort) =>
  a.host.includes(":") ? `[${a.host}]:${a.port}` : `${a.host}:${a.port}`;
const formatGroup = (ids: NodeId[]) => `[${ids.join(", ")}]`;

function isNotFound(err: unknown): boolean {
  return /status code 404/.test((err as Error)?.message ?? "");
}

function apiError(what: string, err: unknown): Error {
  return new Error(`Toxiproxy: ${what} failed: ${(err as Error)?.message ?? String(err)}`);
}

function describeTarget(target: FaultTarget): string {
  if (typeof target === "number") return `node ${target}`;
  if ("node" in target) return `node ${target.node}`;
  if ("client" in target) return `client→${target.client}`;
  const purpose = target.purpose ? ` (${target.purpose})` : "";
  if ("from" in target) return `link ${target.from}→${target.to}${purpose}`;
  return `${formatGroup(target.between[0])} ↔ ${formatGroup(target.between[1])}${purpose}`;
}

/** A silent drop: data in both directions is discarded, the connection stays open and is never closed. */
const DROP: ToxicSpec = { type: "timeout", attributes: { timeout: 0 } };

export class FaultPlane {
  readonly url: string;
  readonly namePrefix: string;
  private readonly client: Toxiproxy;
  private readonly listenHost: string;
  private readonly onEvent: ((event: FaultEvent) => void) | undefined;
  private readonly byName = new Map<string, ProxyEntry>();
  private readonly active = new Map<number, FaultState>();
  /** Per proxy: how many active faults keep it disabled. */
  private readonly refusals = new Map<string, number>();
  private readonly log: FaultEvent[] = [];
  private nextId = 1;
  private closed = false;
  private server: ToxiproxyServer | undefined;
  private readonly placement: ProxyPlacement;
  private unregisterHook: (() => void) | undefined;
  /** The proxies belong to someone else (adopt()): close() heals them instead of deleting them. */
  private adopted = false;

  constructor(options: FaultPlaneOptions) {
    this.url = options.url.replace(/\/+$/, "");
    this.client = new Toxiproxy(this.url);
    this.onEvent = options.onEvent;
    this.listenHost = options.listenHost ?? LOOPBACK;
    this.placement = options.placement ?? {
      listen: () => ({ listen: `${this.listenHost}:0`, address: (reported) => reported }),
    };
    this.namePrefix =
      options.namePrefix ?? `gauntlet-${process.pid}-${Math.random().toString(36).slice(2, 8)}`;
  }

  /**
   * Starts a Toxiproxy server (or attaches to TOXIPROXY_URL) and returns a plane over it. The plane
   * owns the server: close() deletes its proxies and stops the server (an external one keeps running).
   * A SIGINT/SIGTERM of the harness closes the plane too.
   */
  static async open(options: OpenFaultPlaneOptions = {}): Promise<FaultPlane> {
    if (options.docker) {
      // loaded lazily: testcontainers costs seconds to import and most runs never touch docker
      const { startToxiproxyContainer, TOXIPROXY_ALIAS } = await import("../docker/toxiproxy-container.ts");
      const server = await startToxiproxyContainer();
      const placement: ProxyPlacement = {
        network: server.network,
        listen: (role) => {
          if (role === "link")
            return {
              listen: "0.0.0.0:0",
              address: (reported) => ({ host: TOXIPROXY_ALIAS, port: reported.port }),
            };
          const { listen, published } = server.takeClientPort();
          return { listen, address: () => published };
        },
      };
      const plane = new FaultPlane({ ...options, url: server.url, placement });
      plane.server = server;
      plane.unregisterHook = registerShutdownHook(() => plane.close());
      return plane;
    }
    const server = await startToxiproxyServer(options);
    const plane = new FaultPlane({ ...options, url: server.url });
    plane.server = server;
    plane.unregisterHook = registerShutdownHook(() => plane.close());
    return plane;
  }

  /**
   * A plane over proxies someone else created (a docker-compose cluster, docker/toxiproxy.json): every
   * proxy on the server named `<prefix>-client-<node>` or `<prefix>-link-<from>-<to>-<purpose>`.
   * Faults work as on an own plane; close() heals them but deletes neither proxies nor server.
   */
  static async adopt(options: {
    url: string;
    prefix?: string;
    onEvent?: (event: FaultEvent) => void;
  }): Promise<FaultPlane> {
    const prefix = options.prefix ?? "gauntlet";
    const server = await startToxiproxyServer({ url: options.url, readyTimeoutMs: 5000 });
    const plane = new FaultPlane({ url: server.url, namePrefix: prefix, onEvent: options.onEvent });
    plane.server = server;
    plane.adopted = true;
    let all: Awaited<ReturnType<Toxiproxy["getAll"]>>;
    try {
      all = await plane.client.getAll();
    } catch (err) {
      throw apiError(`listing the proxies of ${server.url}`, err);
    }
    const escaped = prefix.replace(/[.*+?^${}()|[\]\\]/g, "\\$&");
    const pattern = new RegExp(`^${escaped}-(?:client-(\\d+)|link-(\\d+)-(\\d+)-(replication|controller))$`);
    for (const [name, handle] of Object.entries(all)) {
      const m = pattern.exec(name);
      if (!m) continue;
      const role: ProxyRole = m[1]
        ? { role: "client", nodeId: Number(m[1]) }
        : { role: "link", from: Number(m[2]), to: Number(m[3]), purpose: m[4] as LinkPurpose };
      const info: ProxyInfo = {
        ...role,
        name,
        listen: parseHostPort(handle.listen),
        upstream: parseHostPort(handle.upstream),
      };
      plane.byName.set(name, { info, handle, listenRaw: handle.listen });
    }
    if (!plane.byName.size) {
      throw new Error(
        `The Toxiproxy server at ${server.url} has no proxy named ${prefix}-client-<node> or ${prefix}-link-<from>-<to>-<purpose>: is it the one of docker-compose.yml?`,
      );
    }
    plane.unregisterHook = registerShutdownHook(() => plane.close());
    await plane.heal(); // leftovers of an earlier run on the same proxies
    return plane;
  }

  /** The docker network the proxies are on (open({ docker: true })); node containers must join it. */
  get network(): string | undefined {
    return this.placement.network;
  }

  /** The server this plane started or attached to through open(), if any. */
  get toxiproxyServer(): ToxiproxyServer | undefined {
    return this.server;
  }

  // -------------------------------------------------------------------------------------------
  // Proxies

  /**
   * Creates (or re-points) the client proxy of a node and returns the address it listens on; the node
   * must advertise that address. Calling it again for the same node keeps the listen address and
   * changes the upstream (a node restarted on another port).
   */
  async addClientProxy(nodeId: NodeId, upstream: HostPort | string): Promise<HostPort> {
    return this.addProxy(`${this.namePrefix}-client-${nodeId}`, toHostPort(upstream), {
      role: "client",
      nodeId,
    });
  }

  /**
   * Creates (or re-points) the proxy for the connections node `from` opens to node `to` for `purpose`,
   * and returns the address `from` must use to reach `to`.
   */
  async addLinkProxy(
    from: NodeId,
    to: NodeId,
    upstream: HostPort | string,
    purpose: LinkPurpose = "replication",
    listen?: HostPort,
  ): Promise<HostPort> {
    if (from === to) throw new Error(`A link needs two different nodes (got ${from}→${to}).`);
    if (!LINK_PURPOSES.includes(purpose)) throw new Error(`Unknown link purpose "${purpose}".`);
    if (listen && this.placement.network) {
      throw new Error(
        `The link ${from}→${to} needs its proxy at ${formatHostPort(listen)}, which a Toxiproxy container on docker network ${this.placement.network} cannot listen on: run this target on the process backend.`,
      );
    }
    const name = `${this.namePrefix}-link-${from}-${to}-${purpose}`;
    return this.addProxy(name, toHostPort(upstream), { role: "link", from, to, purpose }, listen);
  }

  /** An AdvertiseFn for the cluster targets: each node advertises its client proxy. */
  advertiseClients(): AdvertiseFn {
    return ({ nodeId, listen, internal }) => {
      if (this.placement.network && !internal) {
        throw new Error(
          `The fault plane's proxies are on docker network ${this.placement.network}, but node ${nodeId} gave no address on it: run the cluster on the docker backend with network: plane.network.`,
        );
      }
      return this.addClientProxy(nodeId, this.placement.network ? internal! : listen);
    };
  }

  /** A PeerAddressFn for the cluster targets: every node-to-node connection goes through its link proxy. */
  routeLinks(): PeerAddressFn {
    return ({ from, to, purpose, upstream, listen }) =>
      this.addLinkProxy(from, to, upstream, purpose, listen);
  }

  /** Every proxy this plane created. */
  proxies(): ProxyInfo[] {
    return [...this.byName.values()].map((e) => structuredClone(e.info));
  }

  /** The client proxy's listen address of a node, or undefined. */
  clientAddress(nodeId: NodeId): HostPort | undefined {
    const entry = [...this.byName.values()].find((e) => e.info.role === "client" && e.info.nodeId === nodeId);
    return entry ? { ...entry.info.listen } : undefined;
  }

  /** The address node `from` uses to reach node `to` for `purpose`, or undefined. */
  linkAddress(from: NodeId, to: NodeId, purpose: LinkPurpose = "replication"): HostPort | undefined {
    const entry = this.byName.get(`${this.namePrefix}-link-${from}-${to}-${purpose}`);
    return entry ? { ...entry.info.listen } : undefined;
  }

  /** For one node: every peer it has a link to (for `purpose`) and the address to use for it. */
  peerAddresses(nodeId: NodeId, purpose: LinkPurpose = "replication"): Map<NodeId, HostPort> {
    const map = new Map<NodeId, HostPort>();
    for (const { info } of this.byName.values()) {
      if (info.role === "link" && info.from === nodeId && info.purpose === purpose)
        map.set(info.to, { ...info.listen });
    }
    return map;
  }

  /** Every node id that has a client proxy or a link. */
  nodeIds(): NodeId[] {
    const ids = new Set<NodeId>();
    for (const { info } of this.byName.values()) {
      if (info.role === "client") ids.add(info.nodeId);
      else {
        ids.add(info.from);
        ids.add(info.to);
      }
    }
    return [...ids].sort((a, b) => a - b);
  }

  /** Creates or re-points a proxy; `fixedListen` (host server only) pins its listen address. */
  private async addProxy(
    name: string,
    upstream: HostPort,
    role: ProxyRole,
    fixedListen?: HostPort,
  ): Promise<HostPort> {
    this.assertOpen();
    const existing = this.byName.get(name);
    if (existing) {
      const moved = fixedListen && formatHostPort(fixedListen) !== formatHostPort(existing.info.listen);
      if (moved || formatHostPort(existing.info.upstream) !== formatHostPort(upstream)) {
        const listenRaw = moved ? formatHostPort(fixedListen) : existing.listenRaw;
        try {
          existing.handle = await existing.handle.update({
            enabled: !this.refusals.get(name),
            listen: listenRaw,
            upstream: formatHostPort(upstream),
          });
        } catch (err) {
          throw apiError(`re-pointing proxy ${name} to ${formatHostPort(upstream)}`, err);
        }
        existing.info.upstream = upstream;
        if (moved) {
          existing.listenRaw = listenRaw;
          existing.info.listen = { ...fixedListen };
        }
      }
      return { ...existing.info.listen };
    }
    let handle: ToxiproxyProxy;
    const where = fixedListen
      ? { listen: formatHostPort(fixedListen), address: (reported: HostPort) => reported }
      : this.placement.listen(role.role);
    try {
      handle = await this.client.createProxy({
        name,
        listen: where.listen,
        upstream: formatHostPort(upstream),
        enabled: true,
      });
    } catch (err) {
      throw apiError(`creating proxy ${name} to ${formatHostPort(upstream)}`, err);
    }
    const listen = where.address(parseHostPort(handle.listen));
    const info: ProxyInfo = { ...role, name, listen, upstream };
    this.byName.set(name, { info, handle, listenRaw: handle.listen });
    return { ...listen };
  }

  // -------------------------------------------------------------------------------------------
  // Faults

  /** Adds latencyMs (± jitterMs) to each direction of every targeted proxy. */
  async latency(target: FaultTarget, spec: LatencySpec): Promise<ActiveFault> {
    const proxies = this.resolve(target);
    const toxic: ToxicSpec = {
      type: "latency",
      attributes: { latency: Math.round(spec.latencyMs), jitter: Math.round(spec.jitterMs ?? 0) },
    };
    const jitter = spec.jitterMs ? ` ± ${spec.jitterMs}` : "";
    return this.applyToxics(
      "latency",
      `latency ${spec.latencyMs}${jitter} ms on ${describeTarget(target)}`,
      proxies,
      toxic,
    );
  }

  /** Limits each direction of every targeted proxy to rateKBps. */
  async bandwidth(target: FaultTarget, spec: BandwidthSpec): Promise<ActiveFault> {
    const proxies = this.resolve(target);
    const toxic: ToxicSpec = {
      type: "bandwidth",
      attributes: { rate: Math.max(0, Math.round(spec.rateKBps)) },
    };
    return this.applyToxics(
      "bandwidth",
      `bandwidth ${spec.rateKBps} KB/s on ${describeTarget(target)}`,
      proxies,
      toxic,
    );
  }

  /**
   * Silently drops everything in both directions on every link between the two groups (all purposes):
   * connections stay open (and new ones are accepted by the proxy) but no byte passes. Client proxies
   * are not touched (see isolate()).
   */
  async partition(groupA: NodeId[], groupB: NodeId[], purpose?: LinkPurpose): Promise<ActiveFault> {
    const proxies = this.resolve({ between: [groupA, groupB], purpose });
    if (!proxies.length) {
      throw new Error(
        `There are no link proxies between ${formatGroup(groupA)} and ${formatGroup(groupB)} to partition.`,
      );
    }
    const p = purpose ? ` (${purpose})` : "";
    return this.applyToxics(
      "partition",
      `partition ${formatGroup(groupA)} | ${formatGroup(groupB)}${p}`,
      proxies,
      DROP,
    );
  }

  /** Partitions the node from every other node and silently drops its client traffic. */
  async isolate(nodeId: NodeId): Promise<ActiveFault> {
    const others = this.nodeIds().filter((id) => id !== nodeId);
    const proxies = [...this.resolve({ between: [[nodeId], others] }), ...this.resolveOptionalClient(nodeId)];
    if (!proxies.length) throw new Error(`Node ${nodeId} has no proxies to isolate it with.`);
    return this.applyToxics("isolate", `isolate node ${nodeId}`, proxies, DROP);
  }

  /** Silently drops all client traffic of a node (connections stay open, nothing passes). */
  async cutClient(nodeId: NodeId): Promise<ActiveFault> {
    return this.applyToxics(
      "cut-client",
      `cut clients of node ${nodeId}`,
      this.resolve({ client: nodeId }),
      DROP,
    );
  }

  /**
   * Disables the targeted proxies: open connections are closed and new ones are refused (a node whose
   * port is closed, as opposed to the silent drop of partition/cutClient).
   */
  async refuse(target: FaultTarget): Promise<ActiveFault> {
    this.assertOpen();
    const proxies = this.resolve(target);
    const state = this.newFault("refuse", `refuse connections on ${describeTarget(target)}`, proxies);
    try {
      for (const entry of proxies) {
        const count = this.refusals.get(entry.info.name) ?? 0;
        this.refusals.set(entry.info.name, count + 1);
        state.refused.push(entry.info.name);
        if (count === 0) await this.setEnabled(entry, false);
      }
    } catch (err) {
      this.active.delete(state.id);
      await this.releaseRefusals(state.refused).catch(() => {});
      throw err;
    }
    return this.started(state);
  }

  /**
   * Closes every open connection through the targeted proxies (by disabling and re-enabling them);
   * the peers see their connections reset and reconnect. A connection attempt in that instant is
   * refused. Proxies disabled by refuse() stay disabled.
   */
  async resetConnections(target: FaultTarget): Promise<void> {
    this.assertOpen();
    const proxies = this.resolve(target).filter((e) => !this.refusals.get(e.info.name));
    const state = this.newFault(
      "reset-connections",
      `reset connections on ${describeTarget(target)}`,
      proxies,
    );
    this.active.delete(state.id);
    await Promise.all(
      proxies.map(async (entry) => {
        await this.setEnabled(entry, false);
        await this.setEnabled(entry, true);
      }),
    );
    this.emit(state, "start");
    this.emit(state, "stop");
  }

  /**
   * Places nodes in datacenters and adds crossDcLatency (per direction) to every link between nodes
   * of different datacenters. Client proxies are not delayed.
   */
  async datacenters(placement: Record<NodeId, string> | Map<NodeId, string>, crossDcLatency: LatencySpec) {
    const dcOf =
      placement instanceof Map
        ? placement
        : new Map(Object.entries(placement).map(([k, v]) => [Number(k), v]));
    const links = [...this.byName.values()].filter((e) => e.info.role === "link");
    for (const { info } of links) {
      if (info.role !== "link") continue;
      for (const id of [info.from, info.to]) {
        if (!dcOf.has(id)) throw new Error(`Node ${id} has links but no datacenter in the placement.`);
      }
    }
    const cross = links.filter(
      (e) => e.info.role === "link" && dcOf.get(e.info.from) !== dcOf.get(e.info.to),
    );
    const dcs = new Map<string, NodeId[]>();
    for (const [id, dc] of dcOf) dcs.set(dc, [...(dcs.get(dc) ?? []), id]);
    const layout = [...dcs].map(([dc, ids]) => `${dc}=${formatGroup(ids)}`).join(" ");
    const jitter = crossDcLatency.jitterMs ? ` ± ${crossDcLatency.jitterMs}` : "";
    const toxic: ToxicSpec = {
      type: "latency",
      attributes: {
        latency: Math.round(crossDcLatency.latencyMs),
        jitter: Math.round(crossDcLatency.jitterMs ?? 0),
      },
    };
    return this.applyToxics(
      "datacenters",
      `datacenters ${layout}, cross-DC latency ${crossDcLatency.latencyMs}${jitter} ms`,
      cross,
      toxic,
    );
  }

  /** The faults in effect. */
  activeFaults(): ActiveFault[] {
    return [...this.active.values()].map((s) => this.handle(s));
  }

  /** Every event recorded so far (also passed to onEvent). */
  events(): FaultEvent[] {
    return [...this.log];
  }

  /**
   * Removes every fault: stops the active ones (recording their stop events), then removes any toxic
   * left on this plane's proxies and re-enables every one of them.
   */
  async heal(): Promise<void> {
    this.assertOpen();
    const states = [...this.active.values()];
    await Promise.allSettled(states.map((s) => this.stopFault(s)));
    // A stop that failed half-way is finished by the sweep below; its stop event is recorded here.
    for (const state of states) {
      if (!this.active.delete(state.id)) continue;
      this.emit(state, "stop");
    }
    this.refusals.clear();
    const current = await Promise.all(
      [...this.byName.values()].map(async (entry) => {
        try {
          const res = await this.client
            .getApi()
            .get<{ enabled: boolean; toxics?: { name: string }[] }>(entry.handle.getPath());
          return { entry, state: res.data };
        } catch (err) {
          throw apiError(`reading proxy ${entry.info.name}`, err);
        }
      }),
    );
    await Promise.all(
      current.map(async ({ entry, state }) => {
        await Promise.all((state.toxics ?? []).map((toxic) => this.deleteToxic(entry.info.name, toxic.name)));
        if (!state.enabled) await this.setEnabled(entry, true);
      }),
    );
  }

  /**
   * Deletes every proxy this plane created (only those: other runs sharing the server keep theirs),
   * records the stop of every active fault, and stops the server if open() started it.
   */
  async close(): Promise<void> {
    if (this.closed) return;
    this.closed = true;
    for (const state of this.active.values()) this.emit(state, "stop");
    this.active.clear();
    this.refusals.clear();
    const errors: unknown[] = [];
    if (this.adopted) {
      // not ours to delete: leave them as we found them, without toxics and enabled
      this.closed = false;
      try {
        await this.heal();
      } catch (err) {
        errors.push(err);
      }
      this.closed = true;
      this.byName.clear();
    }
    await Promise.all(
      [...this.byName.values()].map(async (entry) => {
        // One retry: a Toxiproxy container under load has answered a delete with 503 (seen once in CI).
        for (let attempt = 1; ; attempt++) {
          try {
            await entry.handle.remove();
            return;
          } catch (err) {
            if (isNotFound(err)) return;
            if (attempt >= 2) {
              errors.push(apiError(`deleting proxy ${entry.info.name}`, err));
              return;
            }
            await new Promise((resolve) => setTimeout(resolve, 250));
          }
        }
      }),
    );
    this.byName.clear();
    this.unregisterHook?.();
    this.unregisterHook = undefined;
    await this.server?.stop();
    if (errors.length) throw errors[0];
  }

  // -------------------------------------------------------------------------------------------
  // Internals

  private assertOpen(): void {
    if (this.closed) throw new Error("This fault plane is closed.");
  }

  private resolveOptionalClient(nodeId: NodeId): ProxyEntry[] {
    return [...this.byName.values()].filter((e) => e.info.role === "client" && e.info.nodeId === nodeId);
  }

  private resolve(target: FaultTarget): ProxyEntry[] {
    this.assertOpen();
    const entries = [...this.byName.values()];
    const links = entries.filter((e) => e.info.role === "link");
    const linkOf = (e: ProxyEntry) => e.info as Extract<ProxyInfo, { role: "link" }>;
    if (typeof target === "number") target = { node: target };
    if ("node" in target) {
      const { node } = target;
      const found = [
        ...this.resolveOptionalClient(node),
        ...links.filter((e) => linkOf(e).from === node || linkOf(e).to === node),
      ];
      if (!found.length) throw new Error(`Node ${node} has no proxies.`);
      return found;
    }
    if ("client" in target) {
      const found = this.resolveOptionalClient(target.client);
      if (!found.length)
        throw new Error(`Node ${target.client} has no client proxy: addClientProxy() first.`);
      return found;
    }
    const purpose = target.purpose;
    if ("from" in target) {
      const found = links.filter(
        (e) =>
          linkOf(e).from === target.from &&
          linkOf(e).to === target.to &&
          (!purpose || linkOf(e).purpose === purpose),
      );
      if (!found.length) {
        throw new Error(
          `There is no link proxy ${target.from}→${target.to}${purpose ? ` (${purpose})` : ""}.`,
        );
      }
      return found;
    }
    const [a, b] = target.between.map((g) => new Set(g));
    const overlap = [...a].filter((id) => b.has(id));
    if (overlap.length)
      throw new Error(`Node(s) ${overlap.join(", ")} cannot be on both sides of a partition.`);
    return links.filter((e) => {
      const l = linkOf(e);
      if (purpose && l.purpose !== purpose) return false;
      return (a.has(l.from) && b.has(l.to)) || (b.has(l.from) && a.has(l.to));
    });
  }

  private newFault(kind: FaultKind, description: string, proxies: ProxyEntry[]): FaultState {
    const state: FaultState = {
      id: this.nextId++,
      kind,
      description,
      proxies: proxies.map((e) => e.info.name),
      toxics: [],
      refused: [],
    };
    this.active.set(state.id, state);
    return state;
  }

  private async applyToxics(
    kind: FaultKind,
    description: string,
    proxies: ProxyEntry[],
    spec: ToxicSpec,
  ): Promise<ActiveFault> {
    this.assertOpen();
    const state = this.newFault(kind, description, proxies);
    const results = await Promise.allSettled(
      proxies.flatMap((entry) =>
        (["upstream", "downstream"] as const).map(async (stream) => {
          const name = `${kind}-${state.id}-${stream}`;
          try {
            await entry.handle.addToxic({
              name,
              type: spec.type,
              stream,
              toxicity: 1,
              attributes: spec.attributes,
            });
          } catch (err) {
            throw apiError(`adding ${spec.type} toxic to ${entry.info.name}`, err);
          }
          state.toxics.push({ proxy: entry.info.name, toxic: name });
        }),
      ),
    );
    const failed = results.find((r): r is PromiseRejectedResult => r.status === "rejected");
    if (failed) {
      this.active.delete(state.id);
      await Promise.allSettled(state.toxics.map((t) => this.deleteToxic(t.proxy, t.toxic)));
      throw failed.reason;
    }
    return this.started(state);
  }

  private started(state: FaultState): ActiveFault {
    this.emit(state, "start");
    return this.handle(state);
  }

  private handle(state: FaultState): ActiveFault {
    return {
      id: state.id,
      kind: state.kind,
      description: state.description,
      proxies: [...state.proxies],
      stop: () => this.stopFault(state),
    };
  }

  private stopFault(state: FaultState): Promise<void> {
    state.stopped ??= (async () => {
      if (this.closed || !this.active.has(state.id)) return;
      await Promise.all(state.toxics.map((t) => this.deleteToxic(t.proxy, t.toxic)));
      await this.releaseRefusals(state.refused);
      this.active.delete(state.id);
      this.emit(state, "stop");
    })();
    return state.stopped;
  }

  private async releaseRefusals(names: string[]): Promise<void> {
    for (const name of names) {
      const count = (this.refusals.get(name) ?? 1) - 1;
      if (count > 0) {
        this.refusals.set(name, count);
        continue;
      }
      this.refusals.delete(name);
      const entry = this.byName.get(name);
      if (entry) await this.setEnabled(entry, true);
    }
  }

  private async deleteToxic(proxy: string, toxic: string): Promise<void> {
    const entry = this.byName.get(proxy);
    if (!entry) return;
    try {
      await this.client.getApi().delete(`${entry.handle.getPath()}/toxics/${encodeURIComponent(toxic)}`);
    } catch (err) {
      if (!isNotFound(err)) throw apiError(`removing toxic ${toxic} from ${proxy}`, err);
    }
  }

  private async setEnabled(entry: ProxyEntry, enabled: boolean): Promise<void> {
    try {
      entry.handle = await entry.handle.update({
        enabled,
        listen: entry.listenRaw,
        upstream: formatHostPort(entry.info.upstream),
      });
    } catch (err) {
      throw apiError(`${enabled ? "enabling" : "disabling"} proxy ${entry.info.name}`, err);
    }
  }

  private emit(state: FaultState, fault: "start" | "stop"): void {
    const event: FaultEvent = {
      id: state.id,
      kind: state.kind,
      description: state.description,
      fault,
      at: Date.now(),
      mono: performance.now(),
      proxies: [...state.proxies],
    };
    this.log.push(event);
    this.onEvent?.(event);
  }
}
