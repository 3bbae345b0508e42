// The per-JVM hosts file of a Kafka cluster routed through the fault plane: each node must resolve every
// other voter's name to its own link proxy (127.0.<self>.<voter>) and only itself to the direct address.
import { hostname } from "node:os";
import { expect, test } from "vitest";
import { hostsFile, kraftLinkIp } from "../targets/kafka.ts";

test("node k's hosts file maps each other voter j to the proxy of link k→j, itself to 127.0.0.1", () => {
  expect(hostsFile(2, [1, 2, 3]).trimEnd().split("\n")).toEqual([
    `127.0.0.1 localhost ${hostname()} gauntlet-kraft-2`,
    "127.0.2.1 gauntlet-kraft-1",
    "127.0.2.3 gauntlet-kraft-3",
  ]);
});

test("every directed controller link gets its own loopback address", () => {
  const ips = new Set<string>();
  for (const from of [1, 2, 3]) for (const to of [1, 2, 3]) if (from !== to) ips.add(kraftLinkIp(from, to));
  expect(ips.size).toBe(6);
  expect([...ips].every((ip) => ip.startsWith("127.") && ip !== "127.0.0.1")).toBe(true);
});
