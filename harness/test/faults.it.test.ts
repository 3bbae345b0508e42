// The Toxiproxy fault plane against a real Toxiproxy server and plain TCP echo servers standing in for
// three nodes (no brokers needed). Timing assertions are lower bounds only: the machine is noisy.
import { createConnection, createServer, type Server, type Socket } from "node:net";
import { afterAll, beforeAll, describe, expect, test } from "vitest";
import { canConnect, listeningPorts } from "../cluster/ports.ts";
import { type FaultEvent, FaultPlane, type HostPort } from "../faults/fault-plane.ts";
import { startToxiproxyServer, type ToxiproxyServer } from "../faults/toxiproxy-server.ts";
import { missingTools } from "../tools.ts";
import { eventually, pidGone } from "./leak-check.ts";

const missing = process.env.TOXIPROXY_URL ? undefined : missingTools("toxiproxy");
if (missing) console.warn(`faults.it.test.ts skipped: ${missing}`);

const NODES = [1, 2, 3];
/** How long a round trip must stay unanswered to count as "hangs". */
const HANG_MS = 800;

/** A TCP echo server on a free loopback port. */
async function echoServer(): Promise<{ server: Server; address: HostPort; sockets: Set<Socket> }> {
  const sockets = new Set<Socket>();
  const server = createServer((socket) => {
    sockets.add(socket);
    socket.on("close", () => sockets.delete(socket));
    socket.on("error", () => {});
    socket.pipe(socket);
  });
  await new Promise<void>((resolve) => server.listen(0, "127.0.0.1", resolve));
  const addr = server.address();
  if (!addr || typeof addr === "string") throw new Error("no address");
  return { server, address: { host: "127.0.0.1", port: addr.port }, sockets };
}

/** A client connection that sends a payload and waits for it to come back. */
interface Conn {
  socket: Socket;
  /** Resolves with the round-trip time in ms, rejects when nothing came back within timeoutMs. */
  roundTrip(timeoutMs: number, payload?: string): Promise<number>;
  /** Resolves when the connection is closed by the other side (end, close or reset). */
  closed: Promise<void>;
}

async function connect(address: HostPort): Promise<Conn> {
  const socket = createConnection({ host: address.host, port: address.port });
  socket.on("error", () => {});
  await new Promise<void>((resolve, reject) => {
    socket.once("connect", resolve);
    socket.once("error", reject);
  });
  const closed = new Promise<void>((resolve) => {
    socket.once("end", resolve);
    socket.once("close", resolve);
  });
  let buffered = "";
  let waiter: (() => void) | undefined;
  socket.on("data", (chunk) => {
    buffered += chunk.toString();
    waiter?.();
  });
  return {
    socket,
    closed,
    roundTrip(timeoutMs, payload = `ping-${Math.random()}\n`) {
      return new Promise((resolve, reject) => {
        const t0 = performance.now();
        const timer = setTimeout(() => {
          waiter = undefined;
          reject(new Error(`no answer within ${timeoutMs} ms`));
        }, timeoutMs);
        waiter = () => {
          const i = buffered.indexOf(payload);
          if (i < 0) return;
          buffered = buffered.slice(i + payload.length);
          clearTimeout(timer);
          waiter = undefined;
          resolve(performance.now() - t0);
        };
        socket.write(payload);
      });
    },
  };
}

/** One round trip on a fresh connection; rejects on timeout. */
async function roundTrip(address: HostPort, timeoutMs = 5000, payload?: string): Promise<number> {
  const conn = await connect(address);
  try {
    return await conn.roundTrip(timeoutMs, payload);
  } finally {
    conn.socket.destroy();
  }
}

async function expectHangs(address: HostPort): Promise<void> {
  await expect(roundTrip(address, HANG_MS)).rejects.toThrow(/no answer/);
}

async function expectWorks(address: HostPort): Promise<void> {
  await expect(roundTrip(address, 10_000)).resolves.toBeGreaterThanOrEqual(0);
}

async function proxiesOnServer(
  url: string,
): Promise<Record<string, { toxics: unknown[]; enabled: boolean }>> {
  const res = await fetch(`${url}/proxies`);
  return (await res.json()) as Record<string, { toxics: unknown[]; enabled: boolean }>;
}

describe.skipIf(!!missing)(`Toxiproxy fault plane${missing ? ` (skipped: ${missing})` : ""}`, () => {
  let server: ToxiproxyServer;
  let plane: FaultPlane;
  const echoes = new Map<number, Awaited<ReturnType<typeof echoServer>>>();
  const events: FaultEvent[] = [];
  const client = (id: number) => plane.clientAddress(id)!;
  const link = (from: number, to: number) => plane.linkAddress(from, to, "replication")!;

  beforeAll(async () => {
    server = await startToxiproxyServer();
    plane = new FaultPlane({ url: server.url, onEvent: (e) => events.push(e) });
    for (const id of NODES) echoes.set(id, await echoServer());
    for (const id of NODES) {
      await plane.addClientProxy(id, echoes.get(id)!.address);
      for (const peer of NODES) {
        if (peer === id) continue;
        await plane.addLinkProxy(id, peer, echoes.get(peer)!.address, "replication");
        await plane.addLinkProxy(id, peer, echoes.get(peer)!.address, "controller");
      }
    }
  });

  afterAll(async () => {
    await plane?.close().catch(() => {});
    await server?.stop();
    for (const { server: s, sockets } of echoes.values()) {
      for (const socket of sockets) socket.destroy();
      await new Promise((resolve) => s.close(resolve));
    }
  });

  test("every proxy listens on its own loopback port and forwards to its node", async () => {
    expect(plane.proxies()).toHaveLength(3 + 3 * 2 * 2);
    const ports = new Set(plane.proxies().map((p) => p.listen.port));
    expect(ports.size).toBe(plane.proxies().length);
    for (const p of plane.proxies()) expect(p.listen.host).toBe("127.0.0.1");
    for (const id of NODES) await expectWorks(client(id));
    await expectWorks(link(1, 2));
    await expectWorks(plane.linkAddress(3, 1, "controller")!);
    expect([...plane.peerAddresses(2, "controller").keys()].sort()).toEqual([1, 3]);
    // Re-adding a client proxy keeps its listen address.
    expect(await plane.addClientProxy(1, echoes.get(1)!.address)).toEqual(client(1));
  });

  test("latency delays a round trip by at least the configured latency", async () => {
    const fault = await plane.latency({ from: 1, to: 2 }, { latencyMs: 150, jitterMs: 0 });
    try {
      const rtt = await roundTrip(link(1, 2), 10_000);
      // 150 ms on the request and 150 ms on the response.
      expect(rtt).toBeGreaterThanOrEqual(290);
      expect(await roundTrip(client(3), 10_000)).toBeGreaterThanOrEqual(0);
    } finally {
      await fault.stop();
    }
    const server1 = await proxiesOnServer(server.url);
    expect(server1[`${plane.namePrefix}-link-1-2-replication`].toxics).toEqual([]);
    const last = events.slice(-2);
    expect(last.map((e) => [e.kind, e.fault])).toEqual([
      ["latency", "start"],
      ["latency", "stop"],
    ]);
    expect(last[0].id).toBe(last[1].id);
  });

  test("bandwidth slows a transfer down", async () => {
    const fault = await plane.bandwidth({ client: 2 }, { rateKBps: 20 });
    try {
      // 40 KB at 20 KB/s takes about 2 s in each direction.
      const ms = await roundTrip(client(2), 20_000, `${"x".repeat(40_000)}\n`);
      expect(ms).toBeGreaterThanOrEqual(1500);
    } finally {
      await fault.stop();
    }
  });

  test("partition silently drops both directions between the groups; heal restores them", async () => {
    const before = await connect(link(2, 1));
    await before.roundTrip(5000);
    const fault = await plane.partition([1], [2, 3]);
    expect(fault.proxies).toHaveLength(2 * 2 * 2); // 1→2, 1→3, 2→1, 3→1, each for two purposes
    // New connections are accepted by the proxy, but nothing passes, in either direction.
    await expectHangs(link(1, 2));
    await expectHangs(link(2, 1));
    await expectHangs(link(3, 1));
    await expectHangs(plane.linkAddress(1, 3, "controller")!);
    // An open connection is not closed, it just stops answering.
    await expect(before.roundTrip(HANG_MS)).rejects.toThrow(/no answer/);
    // Links inside a group and client proxies are untouched.
    await expectWorks(link(2, 3));
    await expectWorks(link(3, 2));
    await expectWorks(client(1));

    await plane.heal();
    await expectWorks(link(1, 2));
    await expectWorks(link(2, 1));
    await expectWorks(link(3, 1));
    // The connection that lived through the partition lost bytes, and the proxy closes it on heal.
    await expect(
      Promise.race([before.closed.then(() => "closed"), sleep(5000).then(() => "open")]),
    ).resolves.toBe("closed");
    before.socket.destroy();
    const partitionEvents = events.filter((e) => e.id === fault.id);
    expect(partitionEvents.map((e) => e.fault)).toEqual(["start", "stop"]);
    expect(partitionEvents[0].description).toBe("partition [1] | [2, 3]");
  });

  test("isolate cuts the node's client proxy and all its links, and nothing else", async () => {
    await plane.isolate(1);
    await expectHangs(client(1));
    await expectHangs(link(1, 2));
    await expectHangs(link(3, 1));
    await expectWorks(client(2));
    await expectWorks(link(2, 3));
    await plane.heal();
    await expectWorks(client(1));
    await expectWorks(link(1, 2));
    await expectWorks(link(3, 1));
    const onServer = await proxiesOnServer(server.url);
    for (const p of plane.proxies()) expect(onServer[p.name]).toMatchObject({ toxics: [], enabled: true });
  });

  test("cutClient drops a node's client traffic but keeps its links", async () => {
    const fault = await plane.cutClient(3);
    await expectHangs(client(3));
    await expectWorks(link(1, 3));
    await fault.stop();
    await expectWorks(client(3));
  });

  test("resetConnections closes open connections; new ones work at once", async () => {
    const conn = await connect(client(2));
    await conn.roundTrip(5000);
    const other = await connect(client(3));
    await plane.resetConnections({ client: 2 });
    await expect(
      Promise.race([conn.closed.then(() => "closed"), sleep(5000).then(() => "open")]),
    ).resolves.toBe("closed");
    conn.socket.destroy();
    await expectWorks(client(2));
    // Other proxies' connections are untouched.
    await expect(other.roundTrip(5000)).resolves.toBeGreaterThanOrEqual(0);
    other.socket.destroy();
  });

  test("refuse closes the port until heal", async () => {
    await plane.refuse({ client: 1 });
    await expect(roundTrip(client(1), 2000)).rejects.toThrow();
    expect(await canConnect(client(1).port)).toBe(false);
    await plane.heal();
    await expectWorks(client(1));
  });

  test("datacenters delays every cross-DC link and only those", async () => {
    const fault = await plane.datacenters(
      { 1: "east", 2: "east", 3: "west" },
      { latencyMs: 100, jitterMs: 0 },
    );
    try {
      expect(await roundTrip(link(1, 3), 10_000)).toBeGreaterThanOrEqual(190);
      expect(await roundTrip(link(3, 2), 10_000)).toBeGreaterThanOrEqual(190);
      const onServer = await proxiesOnServer(server.url);
      const delayed = plane
        .proxies()
        .filter((p) => onServer[p.name].toxics.length > 0)
        .map((p) => (p.role === "link" ? `${p.from}-${p.to}-${p.purpose}` : `client-${p.nodeId}`))
        .sort();
      expect(delayed).toEqual(
        ["1-3", "2-3", "3-1", "3-2"].flatMap((l) => [`${l}-controller`, `${l}-replication`]).sort(),
      );
    } finally {
      await fault.stop();
    }
  });

  test("close() deletes this plane's proxies and only those", async () => {
    const other = new FaultPlane({ url: server.url });
    await other.addClientProxy(7, echoes.get(1)!.address);
    const names = plane.proxies().map((p) => p.name);
    const listenPorts = plane.proxies().map((p) => p.listen.port);
    await plane.latency(1, { latencyMs: 10 });
    await plane.close();
    const onServer = await proxiesOnServer(server.url);
    expect(Object.keys(onServer).filter((n) => n.startsWith(plane.namePrefix))).toEqual([]);
    for (const name of names) expect(onServer[name]).toBeUndefined();
    expect(onServer[`${other.namePrefix}-client-7`]).toBeDefined();
    const listening = listeningPorts();
    expect(listenPorts.filter((p) => listening.has(p))).toEqual([]);
    // The active latency fault got its stop event.
    expect(events.at(-1)).toMatchObject({ kind: "latency", fault: "stop" });
    await other.close();
    expect(
      Object.keys(await proxiesOnServer(server.url)).filter((n) => n.startsWith(other.namePrefix)),
    ).toEqual([]);
    await expect(plane.latency(1, { latencyMs: 1 })).rejects.toThrow(/closed/);
  });

  test("an existing server (TOXIPROXY_URL) is used, not started or stopped", async () => {
    const external = await startToxiproxyServer({ url: server.url });
    expect(external.external).toBe(true);
    expect(external.pid).toBeUndefined();
    await external.stop();
    expect(await canConnect(server.port)).toBe(true);
    const viaEnv = process.env.TOXIPROXY_URL;
    process.env.TOXIPROXY_URL = server.url;
    try {
      const attached = await FaultPlane.open();
      expect(attached.toxiproxyServer?.external).toBe(true);
      await attached.addClientProxy(1, echoes.get(1)!.address);
      await attached.close();
      expect(await canConnect(server.port)).toBe(true);
    } finally {
      if (viaEnv === undefined) delete process.env.TOXIPROXY_URL;
      else process.env.TOXIPROXY_URL = viaEnv;
    }
  });

  test.skipIf(!!missingTools("toxiproxy"))("a server the plane started is gone after close()", async () => {
    const owned = await FaultPlane.open({ url: null });
    const toxiproxy = owned.toxiproxyServer!;
    expect(toxiproxy.external).toBe(false);
    const pid = toxiproxy.pid!;
    expect(pidGone(pid)).toBe(false);
    const listen = await owned.addClientProxy(1, echoes.get(1)!.address);
    await expectWorks(listen);
    await owned.close();
    expect(await eventually(() => pidGone(pid), 5000)).toBe(true);
    expect(() => process.kill(pid, 0)).toThrow(expect.objectContaining({ code: "ESRCH" }));
    const listening = listeningPorts();
    expect(listening.has(toxiproxy.port)).toBe(false);
    expect(listening.has(listen.port)).toBe(false);
    expect(await canConnect(toxiproxy.port)).toBe(false);
  });
});

const sleep = (ms: number) => new Promise((resolve) => setTimeout(resolve, ms));
