// The reference target: the TypeScript broker started as a local process by the harness.
import { existsSync } from "node:fs";
import { describe, expect, test } from "vitest";
import { createCluster, REFERENCE_BROKER_MAIN } from "../cluster/index.ts";
import { probeMetadata } from "../cluster/kafka-probe.ts";
import { eventually, leftovers, pidGone } from "./leak-check.ts";

const missing = existsSync(REFERENCE_BROKER_MAIN) ? undefined : "broker/src/main.ts does not exist yet";

describe.skipIf(!!missing)(`reference target${missing ? ` (skipped: ${missing})` : ""}`, () => {
  test("starts one node that answers Metadata, survives a restart, and stops without leftovers", async () => {
    const cluster = createCluster({ target: "reference", nodes: 1, racks: ["rack-r"] });
    try {
      await cluster.start();
      const [node] = cluster.nodes();
      const md = await probeMetadata("127.0.0.1", node.port);
      expect(md.brokers).toEqual([{ nodeId: 1, host: "127.0.0.1", port: node.port, rack: "rack-r" }]);
      const firstPid = node.pid!;
      const term = await cluster.terminate(1, 10_000);
      expect(term.clean).toBe(true);
      expect(pidGone(firstPid)).toBe(true);
      await cluster.restart(1);
      expect(cluster.nodes()[0].pid).not.toBe(firstPid);
    } finally {
      const pids = cluster.nodes().flatMap((n) => (n.pid ? [n.pid] : []));
      const ports = cluster.nodes().map((n) => n.port);
      const dir = cluster.nodes()[0]?.dataDir;
      await cluster.stop();
      expect(await eventually(() => leftovers(pids, ports).pids.length === 0)).toBe(true);
      expect(leftovers(pids, ports)).toEqual({ pids: [], ports: [] });
      if (dir) expect(existsSync(dir)).toBe(false);
    }
  });
});
