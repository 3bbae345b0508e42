/**
 * `--peer-discovery`: the Raft voters' addresses from DNS, resolved once when the node starts and fed
 * into the same peers map that `--peers` gives (node id → host:port).
 *
 * - `dns-srv:<name>`: the SRV records of `name` (in Kubernetes `_raft._tcp.<headless service>` for a
 *   service port named `raft`); each record's target and port are a voter's Raft address.
 * - `dns-a:<name>:<port>`: the A records of `name` (a headless service: one address per pod), each a
 *   voter listening on `port`; the voter's host name is the address's reverse-DNS (PTR) name.
 *
 * Node ids come from host names: the number that ends the first label (`gauntlet-2.gauntlet.ns.svc`,
 * `node2.example` → 2; a StatefulSet pod's name with `spec.ordinals.start: 1`). A first label that does
 * not start with a letter and end in digits (such as `10-0-0-5`, a pod without a host name) is refused.
 *
 * The map holds the host names when the system's resolvers are used (gRPC resolves them again when it
 * reconnects, so a pod that comes back with a new address is found), and the resolved addresses with
 * `--dns-server` (a server only this lookup knows about).
 *
 * Attempts repeat with a bounded backoff (200 ms doubling to 5 s) until DNS lists exactly the expected
 * number of voters, this node among them, or fail with one sentence (ConfigError) after the timeout.
 */
import { Resolver } from "node:dns/promises";
import type { Logger } from "pino";
import { ConfigError, type PeerDiscoverySettings } from "../config.ts";

/** The lookups discovery uses (node:dns `Resolver`, or a fake in tests). */
export interface DnsLookups {
  resolveSrv(name: string): Promise<{ name: string; port: number; priority: number; weight: number }[]>;
  resolve4(name: string): Promise<string[]>;
  resolve6(name: string): Promise<string[]>;
  resolvePtr(name: string): Promise<string[]>;
}

/** A node:dns Resolver on the given servers (`ip:port`), or on the system's resolvers. */
export function dnsResolver(servers: string[] | undefined): DnsLookups {
  const resolver = new Resolver({ timeout: 2000, tries: 2 });
  if (servers) resolver.setServers(servers);
  return resolver;
}

const FIRST_BACKOFF_MS = 200;
const MAX_BACKOFF_MS = 5000;
const NODE_ID_MAX = 2 ** 31 - 1;

/** Not (yet) what is expected: retried until the timeout. */
class NotYet extends Error {}

/** The node id a host name encodes (see the module comment), or undefined. */
export function nodeIdFromHostName(host: string): number | undefined {
  const first = host.split(".")[0] ?? "";
  const m = /^[A-Za-z][A-Za-z0-9-]*?(\d+)$/.exec(first);
  if (!m) return undefined;
  const id = Number(m[1]);
  return id >= 1 && id <= NODE_ID_MAX ? id : undefined;
}

/** `10.0.0.5` → `5.0.0.10.in-addr.arpa`. */
const reverseName = (ip: string): string => `${ip.split(".").reverse().join(".")}.in-addr.arpa`;
const stripDot = (name: string): string => (name.endsWith(".") ? name.slice(0, -1) : name);
const hostPort = (host: string, port: number): string =>
  host.includes(":") ? `[${host}]:${port}` : `${host}:${port}`;

function dnsError(e: unknown): string {
  const err = e as NodeJS.ErrnoException;
  return err.code ?? err.message;
}

interface Found {
  id: number;
  address: string;
}

/** One look at DNS: the voters it lists now (NotYet or ConfigError when that is not usable). */
async function lookOnce(d: PeerDiscoverySettings, dns: DnsLookups): Promise<Found[]> {
  const useAddresses = d.dnsServers !== undefined;
  const found: Found[] = [];
  if (d.spec.kind === "dns-srv") {
    const name = d.spec.name;
    const records = await dns.resolveSrv(name).catch((e: unknown) => {
      throw new NotYet(`found no SRV records of ${name} (${dnsError(e)})`);
    });
    for (const r of records) {
      const host = stripDot(r.name);
      const id = nodeIdFromHostName(host);
      if (id === undefined) {
        throw new ConfigError(
          `--peer-discovery ${d.source}: SRV target ${host} does not name a node id (its first label must end in the id, as in gauntlet-1.<service>).`,
        );
      }
      let address = host;
      if (useAddresses) {
        const v4 = await dns.resolve4(host).catch(() => [] as string[]);
        const ips = v4.length > 0 ? v4 : await dns.resolve6(host).catch(() => [] as string[]);
        if (ips.length === 0) throw new NotYet(`found no address of ${host} (SRV target of node ${id})`);
        address = ips[0]!;
      }
      found.push({ id, address: hostPort(address, r.port) });
    }
  } else {
    const { name, port } = d.spec;
    const ips = await dns.resolve4(name).catch((e: unknown) => {
      throw new NotYet(`found no A records of ${name} (${dnsError(e)})`);
    });
    for (const ip of ips) {
      // A PTR query (not `reverse`, which would also read the hosts file).
      const names = await dns.resolvePtr(reverseName(ip)).catch((e: unknown) => {
        throw new NotYet(`found no reverse-DNS (PTR) name of ${ip} (${dnsError(e)})`);
      });
      const host = names.map(stripDot).find((n) => nodeIdFromHostName(n) !== undefined);
      if (host === undefined) {
        throw new ConfigError(
          `--peer-discovery ${d.source}: the reverse-DNS name of ${ip} (${names.map(stripDot).join(", ") || "none"}) does not name a node id (its first label must end in the id, as in gauntlet-1.<service>).`,
        );
      }
      found.push({ id: nodeIdFromHostName(host)!, address: hostPort(useAddresses ? ip : host, port) });
    }
  }
  return found;
}

/** Checks one look against what is expected; the voters' map when it matches. */
function voters(nodeId: number, d: PeerDiscoverySettings, found: Found[]): Map<number, string> {
  const peers = new Map<number, string>();
  for (const f of found) {
    const other = peers.get(f.id);
    if (other !== undefined && other !== f.address) {
      throw new NotYet(`found two addresses for node ${f.id} (${other} and ${f.address})`);
    }
    peers.set(f.id, f.address);
  }
  const ids = [...peers.keys()].sort((a, b) => a - b);
  const listed = ids.length === 0 ? "no nodes" : `nodes ${ids.join(", ")}`;
  if (ids.length !== d.expectedVoters) {
    throw new NotYet(`found ${listed}, not the ${d.expectedVoters} voters expected`);
  }
  if (!peers.has(nodeId)) throw new NotYet(`found ${listed} but not this node (${nodeId})`);
  return peers;
}

export interface DiscoverOptions {
  /** Lookups to use instead of a Resolver on `dnsServers` (tests). */
  dns?: DnsLookups;
  log?: Logger;
  /** Stops waiting (the node is stopping): discovery then rejects. */
  stopped?: () => boolean;
  sleep?: (ms: number) => Promise<void>;
  now?: () => number;
}

/**
 * Waits until DNS lists the expected voters (this node among them) and returns their Raft addresses;
 * ConfigError with one sentence when the option cannot work or the timeout passes.
 */
export async function discoverPeers(
  nodeId: number,
  d: PeerDiscoverySettings,
  opts: DiscoverOptions = {},
): Promise<Map<number, string>> {
  const dns = opts.dns ?? dnsResolver(d.dnsServers);
  const now = opts.now ?? Date.now;
  const sleep = opts.sleep ?? ((ms: number) => new Promise<void>((r) => setTimeout(r, ms)));
  const started = now();
  const deadline = started + d.timeoutMs;
  let backoff = FIRST_BACKOFF_MS;
  for (let attempt = 1; ; attempt++) {
    try {
      const peers = voters(nodeId, d, await lookOnce(d, dns));
      opts.log?.info(
        { discovery: d.source, peers: Object.fromEntries(peers), attempts: attempt, ms: now() - started },
        "raft voters discovered",
      );
      return peers;
    } catch (e) {
      if (!(e instanceof NotYet)) throw e;
      const left = deadline - now();
      if (left <= 0) {
        throw new ConfigError(
          `--peer-discovery ${d.source} ${e.message} within ${d.timeoutMs} ms (${attempt} attempts).`,
        );
      }
      opts.log?.info({ discovery: d.source, attempt, retryInMs: backoff }, `peer discovery: ${e.message}`);
      await sleep(Math.min(backoff, left));
      backoff = Math.min(backoff * 2, MAX_BACKOFF_MS);
      if (opts.stopped?.()) throw new ConfigError(`--peer-discovery ${d.source}: stopped while waiting.`);
    }
  }
}
