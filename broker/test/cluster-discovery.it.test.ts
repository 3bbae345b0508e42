// --peer-discovery against a local DNS server (dns2 on 127.0.0.1): 3-node clusters whose voters come
// from SRV records (one Raft port per node) and from A records of a headless-service-like name (nodes
// on 127.0.0.1-3 sharing one Raft port, node ids from PTR names) elect one controller and agree on the
// metadata; a node waits until DNS lists every voter; a name DNS never lists ends in one sentence and
// exit code 2 after the discovery timeout, and SIGTERM while waiting stops the node cleanly.
import dns2 from "dns2";
import { afterAll, afterEach, describe, expect, test } from "vitest";
import { probeMetadata } from "../../harness/cluster/kafka-probe.ts";
import { allocatePorts, assertPortsFree, LOOPBACK } from "../../harness/cluster/ports.ts";
import { BrokerProcess } from "../src/testing/broker-process.ts";
import { waitFor as waitForShared } from "./wait-for.ts";

const { Packet } = dns2;

/** Records served, by lower-case name; changed by the tests while the servers run. */
interface Zone {
  srv: Map<string, { target: string; port: number }[]>;
  a: Map<string, string[]>;
  ptr: Map<string, string>;
}

interface DnsServer {
  zone: Zone;
  address: string;
  close(): Promise<void>;
}

async function startDns(): Promise<DnsServer> {
  const zone: Zone = { srv: new Map(), a: new Map(), ptr: new Map() };
  const server = dns2.createServer({
    udp: true,
    handle: (request, send) => {
      const response = Packet.createResponseFromRequest(request);
      const q = request.questions[0];
      const name = q?.name.toLowerCase() ?? "";
      const answer = (record: Partial<dns2.Packet.Resource>) =>
        response.answers.push(Packet.createResourceFromQuestion(q!, { ttl: 0, ...record }));
      if (q?.type === Packet.TYPE.SRV && zone.srv.has(name)) {
        for (const r of zone.srv.get(name)!) answer({ priority: 0, weight: 0, ...r });
      } else if (q?.type === Packet.TYPE.A && zone.a.has(name)) {
        for (const address of zone.a.get(name)!) answer({ address });
      } else if (q?.type === Packet.TYPE.PTR && zone.ptr.has(name)) {
        answer({ domain: zone.ptr.get(name)! });
      } else if (![...zone.srv.keys(), ...zone.a.keys(), ...zone.ptr.keys()].includes(name)) {
        response.header.rcode = Packet.RCODE.NXDOMAIN;
      }
      void send(response);
    },
  });
  const bound = await server.listen({ udp: { port: 0, address: LOOPBACK } });
  return { zone, address: `${LOOPBACK}:${bound.udp!.port}`, close: () => server.close() };
}

const ptrName = (ip: string) => `${ip.split(".").reverse().join(".")}.in-addr.arpa`;

let dns: DnsServer | undefined;
let nodes: BrokerProcess[] = [];

async function stopNodes(): Promise<void> {
  await Promise.all(nodes.map((n) => n.stop()));
  for (const n of nodes) n.cleanup();
  nodes = [];
}

afterEach(stopNodes);
afterAll(async () => {
  await stopNodes();
  await dns?.close();
});

const waitFor = <T>(what: string, fn: () => Promise<T | undefined>, timeoutMs = 20_000) =>
  waitForShared(what, fn, timeoutMs, 100);

function spawnNode(nodeId: number, raftListen: string, discovery: string[]): BrokerProcess {
  const node = new BrokerProcess({
    readyTimeoutMs: 60_000,
    extraArgs: [
      "--node-id",
      String(nodeId),
      "--cluster-id",
      "dns-it",
      "--raft-listen",
      raftListen,
      "--session-timeout-ms",
      "3000",
      "--heartbeat-interval-ms",
      "300",
      "--dns-server",
      dns!.address,
      ...discovery,
    ],
  });
  nodes.push(node);
  return node;
}

/** Resolves once the node logged `broker ready`; rejects at once if it exits first. */
function ready(node: BrokerProcess): Promise<unknown> {
  return Promise.race([
    waitFor("broker ready", async () => node.ready, 60_000),
    node.exited.then(({ code }) => {
      throw new Error(`broker exited with ${code} before ready:\n${node.lines.slice(-10).join("\n")}`);
    }),
  ]);
}

/** Every node lists brokers 1-3 and names the same controller; returns it. */
async function agreedController(): Promise<number> {
  return waitFor("every node to list 3 brokers and the same controller", async () => {
    const views = await Promise.all(nodes.map((n) => probeMetadata(LOOPBACK, n.port, 3000)));
    const controllers = new Set(views.map((v) => v.controllerId));
    const complete = views.every(
      (v) => JSON.stringify(v.brokers.map((b) => b.nodeId).sort()) === JSON.stringify([1, 2, 3]),
    );
    return complete && controllers.size === 1 && [1, 2, 3].includes(views[0]!.controllerId)
      ? views[0]!.controllerId
      : undefined;
  });
}

/** The peers a node logged as discovered, with the attempts it took. */
function discovered(node: BrokerProcess): { peers: Record<string, string>; attempts: number } {
  const line = node.lines.find((l) => l.includes('"raft voters discovered"'));
  if (!line) throw new Error(`no discovery line:\n${node.lines.slice(-10).join("\n")}`);
  return JSON.parse(line) as { peers: Record<string, string>; attempts: number };
}

describe("--peer-discovery", () => {
  test("dns-srv: the nodes wait for every SRV record, then form one cluster", async () => {
    dns ??= await startDns();
    const service = "_raft._tcp.gauntlet.test";
    const ports = await allocatePorts(3);
    const records = ports.map((port, i) => ({ target: `node-${i + 1}.gauntlet.test`, port }));
    for (const [i] of ports.entries()) dns.zone.a.set(`node-${i + 1}.gauntlet.test`, [LOOPBACK]);
    dns.zone.srv.set(service, records.slice(0, 2));
    const discovery = ["--peer-discovery", `dns-srv:${service}`, "--expected-voters", "3"];
    const started = ports.map((port, i) => spawnNode(i + 1, `${LOOPBACK}:${port}`, discovery));
    // Every node sees only two voters at first and keeps waiting.
    await waitFor("every node to wait for the third voter", async () =>
      started.every((n) => n.lines.some((l) => l.includes("not the 3 voters expected"))) ? true : undefined,
    );
    expect(started.every((n) => n.alive && !n.ready)).toBe(true);
    dns.zone.srv.set(service, records);
    await Promise.all(started.map(ready));

    const controller = await agreedController();
    expect([1, 2, 3]).toContain(controller);
    for (const n of started) {
      const d = discovered(n);
      expect(d.peers).toEqual(Object.fromEntries(ports.map((p, i) => [String(i + 1), `${LOOPBACK}:${p}`])));
      expect(d.attempts).toBeGreaterThan(1);
    }
  });

  test("dns-a: nodes on 127.0.0.1-3 with one Raft port, ids from PTR names, form one cluster", async () => {
    dns ??= await startDns();
    const ips = ["127.0.0.1", "127.0.0.2", "127.0.0.3"];
    let port = 0;
    for (let tries = 0; port === 0 && tries < 10; tries++) {
      const [candidate] = await allocatePorts(1);
      const free = await Promise.all(
        ips.map((ip) =>
          assertPortsFree([candidate!], ip).then(
            () => true,
            () => false,
          ),
        ),
      );
      if (free.every(Boolean)) port = candidate!;
    }
    expect(port).toBeGreaterThan(0);
    dns.zone.a.set("gauntlet.test", ips);
    // PTR names in another order than the addresses: ids come from the names.
    const ids = [2, 3, 1];
    for (const [i, ip] of ips.entries()) dns.zone.ptr.set(ptrName(ip), `gauntlet-${ids[i]}.gauntlet.test`);
    const discovery = ["--peer-discovery", `dns-a:gauntlet.test:${port}`, "--expected-voters", "3"];
    const started = ips.map((ip, i) => spawnNode(ids[i]!, `${ip}:${port}`, discovery));
    await Promise.all(started.map(ready));

    const controller = await agreedController();
    expect([1, 2, 3]).toContain(controller);
    const expected = { "1": `127.0.0.3:${port}`, "2": `127.0.0.1:${port}`, "3": `127.0.0.2:${port}` };
    for (const n of started) expect(discovered(n).peers).toEqual(expected);
  });

  test("a name DNS never lists: exit code 2 after the timeout, exit 0 on SIGTERM while waiting; conflicting options", async () => {
    dns ??= await startDns();
    const [raftPort] = await allocatePorts(1);
    const node = spawnNode(1, `${LOOPBACK}:${raftPort}`, [
      "--peer-discovery",
      "dns-srv:_raft._tcp.missing.test",
      "--expected-voters",
      "3",
      "--discovery-timeout-ms",
      "1500",
    ]);
    expect((await node.exited).code).toBe(2);
    const stderr = node.lines.filter((l) => l.startsWith("broker: "));
    expect(stderr).toHaveLength(1);
    expect(stderr[0]).toMatch(
      /^broker: --peer-discovery dns-srv:_raft\._tcp\.missing\.test found no SRV records of _raft\._tcp\.missing\.test \(ENOTFOUND\) within 1500 ms \(\d+ attempts\)\.$/,
    );

    // SIGTERM while discovery waits: a clean stop.
    const waiting = spawnNode(1, `${LOOPBACK}:${raftPort}`, [
      "--peer-discovery",
      "dns-srv:_raft._tcp.missing.test",
      "--expected-voters",
      "3",
    ]);
    await waitFor("discovery to wait", async () =>
      waiting.lines.some((l) => l.includes("peer discovery: found no SRV records")) ? true : undefined,
    );
    expect(await waiting.stop()).toEqual({ code: 0, signal: null });

    const conflict = spawnNode(1, `${LOOPBACK}:${raftPort}`, [
      "--peer-discovery",
      "dns-srv:_raft._tcp.gauntlet.test",
      "--expected-voters",
      "3",
      "--peers",
      `1=${LOOPBACK}:${raftPort}`,
    ]);
    expect((await conflict.exited).code).toBe(2);
    expect(conflict.lines).toContain(
      "broker: --peers and --peer-discovery both name the voters: give only one of them.",
    );
  });
});
