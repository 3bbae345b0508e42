// docker-compose.yml and docker/toxiproxy.json must agree: every node reaches every other node through
// the link proxy named for that direction and purpose, whose upstream is the right node and port, and
// every node advertises the published port of its own client proxy.
import { readFileSync } from "node:fs";
import { join } from "node:path";
import { expect, test } from "vitest";
import { parse } from "yaml";
import { REPO_ROOT } from "../../harness/tools.ts";

interface ProxySpec {
  name: string;
  listen: string;
  upstream: string;
}

const compose = parse(readFileSync(join(REPO_ROOT, "docker-compose.yml"), "utf8")) as {
  services: Record<string, { command?: string[]; ports?: string[] }>;
};
const proxies = JSON.parse(readFileSync(join(REPO_ROOT, "docker/toxiproxy.json"), "utf8")) as ProxySpec[];
const byListenPort = new Map(proxies.map((p) => [Number(p.listen.split(":")[1]), p]));

function flag(command: string[], name: string): string {
  const i = command.indexOf(name);
  expect(i, `${name} in ${command.join(" ")}`).toBeGreaterThanOrEqual(0);
  return command[i + 1];
}

test("every node-to-node link goes through its own proxy to the right node", () => {
  const nodes = [1, 2, 3];
  for (const n of nodes) {
    const command = compose.services[`node-${n}`].command!;
    expect(flag(command, "--node-id")).toBe(String(n));
    const peers = Object.fromEntries(
      flag(command, "--peers")
        .split(",")
        .map((e) => e.split("=")),
    );
    const kafkaPeers = Object.fromEntries(
      flag(command, "--kafka-peers")
        .split(",")
        .map((e) => e.split("=")),
    );
    expect(peers[n]).toBe(`node-${n}:9093`);
    for (const o of nodes.filter((x) => x !== n)) {
      for (const [purpose, addr, port] of [
        ["controller", peers[o], 9093],
        ["replication", kafkaPeers[o], 9092],
      ] as const) {
        const [host, listenPort] = addr.split(":");
        expect(host).toBe("toxiproxy");
        const proxy = byListenPort.get(Number(listenPort));
        expect(proxy?.name).toBe(`gauntlet-link-${n}-${o}-${purpose}`);
        expect(proxy?.upstream).toBe(`node-${o}:${port}`);
      }
    }
  }
  expect(new Set(proxies.map((p) => p.name)).size).toBe(proxies.length);
  expect(byListenPort.size).toBe(proxies.length);
});

test("every node advertises the published port of its client proxy", () => {
  const published = compose.services.toxiproxy.ports!;
  for (const n of [1, 2, 3]) {
    const client = proxies.find((p) => p.name === `gauntlet-client-${n}`)!;
    expect(client.upstream).toBe(`node-${n}:9092`);
    const containerPort = client.listen.split(":")[1];
    const mapping = published.find((p) => p.endsWith(`:${containerPort}`));
    expect(mapping, `port ${containerPort} published`).toBeDefined();
    const hostPort = mapping!.slice("127.0.0.1:".length, mapping!.lastIndexOf(":"));
    expect(flag(compose.services[`node-${n}`].command!, "--advertised")).toBe(`127.0.0.1:${hostPort}`);
  }
});
