// Per-link routing on a real 3-node Apache Kafka cluster: every client connection goes through a client
// proxy and every node-to-node connection (replication and controller) through the proxy of its link,
// so partitioning a partition leader from the other two nodes moves leadership away from it (seen
// through Metadata, as any client sees it), and healing brings it back into the ISR.
import { afterAll, beforeAll, describe, expect, test } from "vitest";
import { createCluster } from "../cluster/index.ts";
import {
  describePartitions,
  findController,
  formatPartitions,
  fullyReplicated,
  waitForPartitions,
} from "../cluster/leaders.ts";
import type { Cluster } from "../cluster/types.ts";
import { type FaultEvent, FaultPlane } from "../faults/fault-plane.ts";
import { missingTools } from "../tools.ts";

const missing = missingTools("java", "kafka", ...(process.env.TOXIPROXY_URL ? [] : (["toxiproxy"] as const)));
if (missing) console.warn(`faults-kafka-links.it.test.ts skipped: ${missing}`);

const TOPIC = "links";
const NODES = [1, 2, 3];

describe.skipIf(!!missing)(
  `per-link routing of Apache Kafka through the fault plane${missing ? ` (skipped: ${missing})` : ""}`,
  () => {
    let plane: FaultPlane;
    let cluster: Cluster;
    const events: FaultEvent[] = [];
    /** Client proxy address of each node. */
    const via = (ids: number[]) => ids.map((id) => plane.clientAddress(id)!);

    beforeAll(async () => {
      plane = await FaultPlane.open({ onEvent: (e) => events.push(e) });
      cluster = createCluster({
        target: "kafka",
        nodes: 3,
        advertise: plane.advertiseClients(),
        peerAddress: plane.routeLinks(),
        minInsyncReplicas: 2,
        config: {
          // Fence a silent broker within seconds, and drop a silent follower from the ISR as fast.
          "broker.session.timeout.ms": 6000,
          "broker.heartbeat.interval.ms": 1000,
          "replica.lag.time.max.ms": 6000,
        },
      });
      await cluster.start();
      const { Kafka, logLevel } = (await import("kafkajs")).default;
      const kafka = new Kafka({
        brokers: cluster.bootstrapServers().split(","),
        logLevel: logLevel.NOTHING,
        requestTimeout: 5000,
      });
      const admin = kafka.admin();
      await admin.connect();
      try {
        await admin.createTopics({
          topics: [{ topic: TOPIC, numPartitions: 3, replicationFactor: 3 }],
          waitForLeaders: true,
        });
      } finally {
        await admin.disconnect();
      }
    });

    afterAll(async () => {
      await cluster?.stop();
      await plane?.close();
    });

    test("every node-to-node connection has its own proxy, and the cluster formed through them", async () => {
      const links = plane.proxies().filter((p) => p.role === "link");
      expect(links).toHaveLength(2 * 3 * 2); // 6 directed pairs × {replication, controller}
      const info = await findController(cluster.bootstrapServers());
      expect(info.brokers.map((b) => b.nodeId)).toEqual(NODES);
      expect(info.voters).toEqual(NODES);
      expect(NODES).toContain(info.activeController);
      // Brokers only know each other's client proxies.
      for (const b of info.brokers)
        expect({ host: b.host, port: b.port }).toEqual(plane.clientAddress(b.nodeId));
      const states = await waitForPartitions(cluster.bootstrapServers(), TOPIC, fullyReplicated, {
        withinMs: 30_000,
      });
      expect(states).toHaveLength(3);
    });

    test("partitioning the active controller (a partition leader) from the others moves controller and leadership away; heal restores the ISR", async () => {
      const before = await describePartitions(cluster.bootstrapServers(), [TOPIC]);
      // The active KRaft controller is the hard case: its followers must not reach it by any path but
      // their links (Kafka followers dial the address the leader advertises for itself).
      const controller = (await findController(cluster.bootstrapServers())).activeController!;
      const leader = controller;
      expect(before.some((s) => s.leader === leader)).toBe(true);
      const others = NODES.filter((id) => id !== leader);
      console.log(`before: ${formatPartitions(before)}; partitioning node ${leader}, the active controller`);

      const t0 = Date.now();
      const fault = await plane.partition([leader], others);
      // Ask the majority side: the cut-off node still believes its stale metadata.
      const moved = await waitForPartitions(
        via(others),
        TOPIC,
        (states) => states.every((s) => s.leader !== leader && !s.isr.includes(leader) && s.leader !== -1),
        { withinMs: 40_000 },
      );
      console.log(`leadership moved after ${Date.now() - t0} ms: ${formatPartitions(moved)}`);
      for (const s of moved) expect(others).toContain(s.leader);
      // The controller was cut off, so these metadata changes (new leaders, ISR without it) were
      // committed by a controller the majority elected among itself: the old one cannot reach them.

      const t1 = Date.now();
      await plane.heal();
      const healed = await waitForPartitions(cluster.bootstrapServers(), TOPIC, fullyReplicated, {
        withinMs: 40_000,
      });
      console.log(`ISR restored ${Date.now() - t1} ms after heal: ${formatPartitions(healed)}`);
      for (const s of healed) expect(s.isr).toEqual(NODES);
      expect(events.filter((e) => e.id === fault.id).map((e) => e.fault)).toEqual(["start", "stop"]);
    });
  },
);
