// --peer-discovery: option parsing and validation (resolveSettings), the node-id convention, and the
// discovery loop against a fake DNS (names vs addresses, waiting for the expected voters, timeouts).
import { describe, expect, test } from "vitest";
import { type DnsLookups, discoverPeers, nodeIdFromHostName } from "../src/cluster/peer-discovery.ts";
import { ConfigError, type PeerDiscoverySettings, resolveSettings } from "../src/config.ts";

const BASE = [
  "--node-id",
  "2",
  "--data-dir",
  "/tmp/unused",
  "--cluster-id",
  "c1",
  "--raft-listen",
  "127.0.0.1:0",
];

function settings(...extra: string[]) {
  return resolveSettings([...BASE, ...extra], {});
}

function configError(args: string[], env: NodeJS.ProcessEnv = {}): string {
  try {
    resolveSettings(args, env);
  } catch (e) {
    expect(e).toBeInstanceOf(ConfigError);
    return (e as Error).message;
  }
  throw new Error("expected a ConfigError");
}

describe("--peer-discovery options", () => {
  test("dns-srv with the system's resolvers and the default timeout", () => {
    const c = settings(
      "--peer-discovery",
      "dns-srv:_raft._tcp.gauntlet.ns.svc.cluster.local",
      "--expected-voters",
      "3",
    ).cluster!;
    expect(c.discovery).toEqual({
      spec: { kind: "dns-srv", name: "_raft._tcp.gauntlet.ns.svc.cluster.local" },
      source: "dns-srv:_raft._tcp.gauntlet.ns.svc.cluster.local",
      expectedVoters: 3,
      dnsServers: undefined,
      timeoutMs: 120_000,
    });
    expect(c.peers.size).toBe(0);
  });

  test("dns-a with a port, DNS servers and a timeout (flags or environment)", () => {
    const c = settings(
      "--peer-discovery",
      "dns-a:gauntlet.test.:9192",
      "--expected-voters",
      "5",
      "--dns-server",
      "127.0.0.1:5353, 10.0.0.2,[::1]:53",
      "--discovery-timeout-ms",
      "1500",
    ).cluster!;
    expect(c.discovery).toMatchObject({
      spec: { kind: "dns-a", name: "gauntlet.test.", port: 9192 },
      expectedVoters: 5,
      dnsServers: ["127.0.0.1:5353", "10.0.0.2:53", "[::1]:53"],
      timeoutMs: 1500,
    });
    const fromEnv = resolveSettings(BASE, {
      GAUNTLET_BROKER_PEER_DISCOVERY: "dns-srv:x.test",
      GAUNTLET_BROKER_EXPECTED_VOTERS: "3",
      GAUNTLET_BROKER_DNS_SERVER: "127.0.0.1:53",
    }).cluster!;
    expect(fromEnv.discovery).toMatchObject({ spec: { kind: "dns-srv", name: "x.test" }, expectedVoters: 3 });
  });

  test.each([
    [["--peer-discovery", "consul:x"], /--peer-discovery must be dns-srv:<name> or dns-a:<name>:<raft port>/],
    [["--peer-discovery", "dns-srv:"], /must be dns-srv:<name> or dns-a/],
    [["--peer-discovery", "dns-srv:bad name.test"], /dns-srv needs a DNS name, got "bad name.test"/],
    [["--peer-discovery", "dns-srv:a..b"], /dns-srv needs a DNS name/],
    [["--peer-discovery", "dns-a:gauntlet.test"], /dns-a must look like dns-a:<name>:<raft port>/],
    [["--peer-discovery", "dns-a:gauntlet.test:0"], /dns-a port must be between 1 and 65535, got 0/],
    [["--peer-discovery", "dns-a:gauntlet.test:70000"], /dns-a port must be between 1 and 65535/],
    [["--peer-discovery", "dns-srv:x.test"], /--expected-voters is required with --peer-discovery/],
    [["--peer-discovery", "dns-srv:x.test", "--expected-voters", "0"], /--expected-voters must be between 1/],
    [
      ["--peer-discovery", "dns-srv:x.test", "--expected-voters", "3", "--peers", "2=127.0.0.1:1"],
      /^--peers and --peer-discovery both name the voters: give only one of them\.$/,
    ],
    [
      ["--peer-discovery", "dns-srv:x.test", "--expected-voters", "3", "--join", "127.0.0.1:1"],
      /cannot be combined with --join/,
    ],
    [["--dns-server", "127.0.0.1:53"], /^--dns-server is only used with --peer-discovery\.$/],
    [["--expected-voters", "3"], /^--expected-voters is only used with --peer-discovery\.$/],
    [["--discovery-timeout-ms", "10"], /^--discovery-timeout-ms is only used with --peer-discovery\.$/],
    [
      ["--peer-discovery", "dns-srv:x.test", "--expected-voters", "3", "--dns-server", "dns.example:53"],
      /--dns-server entries must be an IP address with an optional :port, got "dns.example:53"/,
    ],
    [
      ["--peer-discovery", "dns-srv:x.test", "--expected-voters", "3", "--dns-server", "127.0.0.1:99999"],
      /--dns-server port must be between 1 and 65535/,
    ],
    [
      ["--peer-discovery", "dns-srv:x.test", "--expected-voters", "3", "--discovery-timeout-ms", "soon"],
      /--discovery-timeout-ms must be an integer/,
    ],
  ])("refuses %j", (extra, message) => {
    expect(configError([...BASE, ...extra])).toMatch(message);
  });

  test("is a cluster-mode option", () => {
    expect(
      configError(["--node-id", "1", "--data-dir", "/tmp/x", "--peer-discovery", "dns-srv:x.test"]),
    ).toBe("--raft-listen is required with --peer-discovery (cluster mode).");
  });
});

describe("node ids from host names", () => {
  test.each([
    ["gauntlet-2.gauntlet.ns.svc.cluster.local", 2],
    ["node-1.gauntlet.test", 1],
    ["broker12", 12],
    ["kafka-07.example", 7],
    ["gauntlet-0.gauntlet", undefined],
    ["10-0-0-5.gauntlet.ns.svc.cluster.local", undefined],
    ["gauntlet.test", undefined],
    ["node-99999999999.test", undefined],
  ])("%s → %s", (host, id) => {
    expect(nodeIdFromHostName(host)).toBe(id);
  });
});

/** A fake DNS whose answers can change between attempts; a clock that sleeping advances. */
function fakeDns(zone: {
  srv?: Record<string, { name: string; port: number }[]>;
  a?: Record<string, string[]>;
  ptr?: Record<string, string[]>;
}) {
  const notFound = (name: string) =>
    Promise.reject(Object.assign(new Error(`queryX ENOTFOUND ${name}`), { code: "ENOTFOUND" }));
  const dns: DnsLookups = {
    resolveSrv: (name) => {
      const r = zone.srv?.[name];
      return r ? Promise.resolve(r.map((x) => ({ ...x, priority: 0, weight: 0 }))) : notFound(name);
    },
    resolve4: (name) => (zone.a?.[name] ? Promise.resolve(zone.a[name]) : notFound(name)),
    resolve6: (name) => notFound(name),
    resolvePtr: (name) => {
      const ip = name
        .replace(/\.in-addr\.arpa$/, "")
        .split(".")
        .reverse()
        .join(".");
      return zone.ptr?.[ip] ? Promise.resolve(zone.ptr[ip]) : notFound(name);
    },
  };
  let clock = 0;
  const sleeps: number[] = [];
  return {
    dns,
    sleeps,
    now: () => clock,
    sleep: async (ms: number) => {
      sleeps.push(ms);
      clock += ms;
    },
  };
}

function discovery(overrides: Partial<PeerDiscoverySettings>): PeerDiscoverySettings {
  return {
    spec: { kind: "dns-srv", name: "_raft._tcp.gauntlet.test" },
    source: "dns-srv:_raft._tcp.gauntlet.test",
    expectedVoters: 3,
    dnsServers: undefined,
    timeoutMs: 10_000,
    ...overrides,
  };
}

const SRV = [1, 2, 3].map((i) => ({ name: `node-${i}.gauntlet.test.`, port: 9190 + i }));

describe("discoverPeers", () => {
  test("dns-srv with the system's resolvers keeps the target names", async () => {
    const f = fakeDns({ srv: { "_raft._tcp.gauntlet.test": SRV } });
    const peers = await discoverPeers(2, discovery({}), f);
    expect(Object.fromEntries(peers)).toEqual({
      1: "node-1.gauntlet.test:9191",
      2: "node-2.gauntlet.test:9192",
      3: "node-3.gauntlet.test:9193",
    });
  });

  test("dns-srv with --dns-server resolves the targets to addresses", async () => {
    const f = fakeDns({
      srv: { "_raft._tcp.gauntlet.test": SRV },
      a: {
        "node-1.gauntlet.test": ["10.0.0.1"],
        "node-2.gauntlet.test": ["10.0.0.2"],
        "node-3.gauntlet.test": ["10.0.0.3"],
      },
    });
    const peers = await discoverPeers(1, discovery({ dnsServers: ["127.0.0.1:53"] }), f);
    expect(Object.fromEntries(peers)).toEqual({ 1: "10.0.0.1:9191", 2: "10.0.0.2:9192", 3: "10.0.0.3:9193" });
  });

  test("dns-a takes node ids from the addresses' PTR names", async () => {
    const zone = {
      a: { "gauntlet.test": ["10.0.0.7", "10.0.0.3", "10.0.0.9"] },
      ptr: {
        "10.0.0.7": ["gauntlet-1.gauntlet.test."],
        "10.0.0.3": ["gauntlet-2.gauntlet.test."],
        "10.0.0.9": ["10-0-0-9.gauntlet.test.", "gauntlet-3.gauntlet.test."],
      },
    };
    const spec = { kind: "dns-a", name: "gauntlet.test", port: 9192 } as const;
    const byName = await discoverPeers(
      3,
      discovery({ spec, source: "dns-a:gauntlet.test:9192" }),
      fakeDns(zone),
    );
    expect(Object.fromEntries(byName)).toEqual({
      1: "gauntlet-1.gauntlet.test:9192",
      2: "gauntlet-2.gauntlet.test:9192",
      3: "gauntlet-3.gauntlet.test:9192",
    });
    const byAddress = await discoverPeers(
      3,
      discovery({ spec, dnsServers: ["127.0.0.1:53"] }),
      fakeDns(zone),
    );
    expect(Object.fromEntries(byAddress)).toEqual({
      1: "10.0.0.7:9192",
      2: "10.0.0.3:9192",
      3: "10.0.0.9:9192",
    });
  });

  test("waits with a bounded backoff until every expected voter is listed", async () => {
    const zone = { srv: { "_raft._tcp.gauntlet.test": SRV.slice(0, 1) } };
    const f = fakeDns(zone);
    const sleep = f.sleep;
    f.sleep = async (ms) => {
      await sleep(ms);
      if (f.sleeps.length === 3) zone.srv["_raft._tcp.gauntlet.test"] = SRV.slice(0, 2);
      if (f.sleeps.length === 7) zone.srv["_raft._tcp.gauntlet.test"] = SRV;
    };
    const peers = await discoverPeers(1, discovery({ timeoutMs: 60_000 }), f);
    expect([...peers.keys()].sort()).toEqual([1, 2, 3]);
    expect(f.sleeps).toEqual([200, 400, 800, 1600, 3200, 5000, 5000]);
  });

  test("times out with one sentence naming what DNS listed", async () => {
    const f = fakeDns({ srv: { "_raft._tcp.gauntlet.test": SRV.slice(0, 2) } });
    await expect(discoverPeers(1, discovery({ timeoutMs: 3000 }), f)).rejects.toThrow(
      new ConfigError(
        "--peer-discovery dns-srv:_raft._tcp.gauntlet.test found nodes 1, 2, not the 3 voters expected within 3000 ms (5 attempts).",
      ),
    );
    expect(f.sleeps).toEqual([200, 400, 800, 1600]);
  });

  test("an unknown name, a missing self and too many voters are waited for, then refused", async () => {
    await expect(discoverPeers(1, discovery({ timeoutMs: 100 }), fakeDns({}))).rejects.toThrow(
      "--peer-discovery dns-srv:_raft._tcp.gauntlet.test found no SRV records of _raft._tcp.gauntlet.test (ENOTFOUND) within 100 ms",
    );
    const three = fakeDns({ srv: { "_raft._tcp.gauntlet.test": SRV } });
    await expect(discoverPeers(4, discovery({ timeoutMs: 100 }), three)).rejects.toThrow(
      "found nodes 1, 2, 3 but not this node (4) within 100 ms",
    );
    await expect(discoverPeers(1, discovery({ timeoutMs: 100, expectedVoters: 2 }), three)).rejects.toThrow(
      "found nodes 1, 2, 3, not the 2 voters expected",
    );
    const dup = fakeDns({
      srv: { "_raft._tcp.gauntlet.test": [...SRV, { name: "node-3.other.test", port: 1 }] },
    });
    await expect(discoverPeers(1, discovery({ timeoutMs: 100 }), dup)).rejects.toThrow(
      "found two addresses for node 3 (node-3.gauntlet.test:9193 and node-3.other.test:1)",
    );
  });

  test("a host name without a node id is refused at once", async () => {
    const f = fakeDns({ srv: { "_raft._tcp.gauntlet.test": [{ name: "gauntlet.test", port: 1 }] } });
    await expect(discoverPeers(1, discovery({}), f)).rejects.toThrow(
      "--peer-discovery dns-srv:_raft._tcp.gauntlet.test: SRV target gauntlet.test does not name a node id (its first label must end in the id, as in gauntlet-1.<service>).",
    );
    expect(f.sleeps).toEqual([]);
    const a = fakeDns({
      a: { "gauntlet.test": ["10.0.0.5"] },
      ptr: { "10.0.0.5": ["10-0-0-5.gauntlet.test."] },
    });
    const spec = { kind: "dns-a", name: "gauntlet.test", port: 1 } as const;
    await expect(discoverPeers(1, discovery({ spec, source: "dns-a:gauntlet.test:1" }), a)).rejects.toThrow(
      /the reverse-DNS name of 10\.0\.0\.5 \(10-0-0-5\.gauntlet\.test\) does not name a node id/,
    );
  });

  test("stops waiting when the node stops", async () => {
    const f = fakeDns({});
    await expect(discoverPeers(1, discovery({}), { ...f, stopped: () => true })).rejects.toThrow(
      "stopped while waiting",
    );
  });
});
