// A 3-node Apache Kafka KRaft cluster from the harness: it starts, serves clients, and stops without
// leaving a process, port or directory behind.
import { existsSync } from "node:fs";
import { Kafka, logLevel } from "kafkajs";
import { afterAll, beforeAll, describe, expect, test } from "vitest";
import { createCluster } from "../cluster/index.ts";
import { probeMetadata } from "../cluster/kafka-probe.ts";
import { canConnect } from "../cluster/ports.ts";
import type { KafkaCluster } from "../targets/kafka.ts";
import { missingTools } from "../tools.ts";
import { eventually, leftovers, pidGone } from "./leak-check.ts";

const missing = missingTools("java", "kafka");
if (missing) console.warn(`kafka-cluster.it.test.ts skipped: ${missing}`);

describe.skipIf(!!missing)(`3-node Apache Kafka cluster${missing ? ` (skipped: ${missing})` : ""}`, () => {
  let cluster: KafkaCluster;
  let kafka: Kafka;
  let pids: number[] = [];
  let ports: number[] = [];
  let rootDir: string | undefined;

  beforeAll(async () => {
    cluster = createCluster({
      target: "kafka",
      nodes: 3,
      racks: ["rack-a", "rack-b", "rack-c"],
    }) as KafkaCluster;
    const t0 = Date.now();
    await cluster.start();
    console.log(
      `3-node Kafka cluster started in ${((Date.now() - t0) / 1000).toFixed(1)} s (JVMs spawned to all brokers registered: ${(cluster.lastStartMs / 1000).toFixed(1)} s)`,
    );
    pids = cluster.nodes().map((n) => n.pid!);
    ports = cluster.nodes().flatMap((n) => [n.port, n.controllerPort!]);
    rootDir = cluster.rootDir();
    kafka = new Kafka({
      clientId: "gauntlet-harness-test",
      brokers: cluster.bootstrapServers().split(","),
      logLevel: logLevel.NOTHING,
      connectionTimeout: 3000,
      requestTimeout: 10_000,
    });
  });

  afterAll(async () => {
    await cluster?.stop(); // a no-op when the last test already stopped it
  });

  test("all 3 brokers are registered and a controller is reported (kafkajs DescribeCluster)", async () => {
    expect(cluster.nodes()).toHaveLength(3);
    expect(pids.every((pid) => Number.isInteger(pid))).toBe(true);
    const admin = kafka.admin();
    await admin.connect();
    try {
      const described = await admin.describeCluster();
      const ids = described.brokers.map((b) => b.nodeId).sort();
      expect(ids).toEqual([1, 2, 3]);
      expect(ids).toContain(described.controller);
      expect(described.clusterId).toMatch(/^[A-Za-z0-9_-]{22}$/);
    } finally {
      await admin.disconnect();
    }
    // The raw probe agrees, and every node advertises its rack.
    const md = await probeMetadata("127.0.0.1", cluster.nodes()[1].port);
    expect(md.brokers.map((b) => [b.nodeId, b.rack]).sort()).toEqual([
      [1, "rack-a"],
      [2, "rack-b"],
      [3, "rack-c"],
    ]);
  });

  test("a topic with replication factor 3 round-trips records through kafkajs", async () => {
    const topic = "harness-roundtrip";
    const admin = kafka.admin();
    await admin.connect();
    try {
      await admin.createTopics({
        topics: [{ topic, numPartitions: 3, replicationFactor: 3 }],
        waitForLeaders: true,
      });
      const meta = await admin.fetchTopicMetadata({ topics: [topic] });
      expect(meta.topics[0].partitions.map((p) => p.replicas.length)).toEqual([3, 3, 3]);
    } finally {
      await admin.disconnect();
    }

    const producer = kafka.producer({ allowAutoTopicCreation: false });
    await producer.connect();
    const sent = Array.from({ length: 30 }, (_, i) => ({ key: `k${i % 3}`, value: `value-${i}` }));
    await producer.send({ topic, acks: -1, messages: sent });
    await producer.disconnect();

    const consumer = kafka.consumer({ groupId: "harness-roundtrip-group", sessionTimeout: 10_000 });
    await consumer.connect();
    await consumer.subscribe({ topic, fromBeginning: true });
    const received: string[] = [];
    await new Promise<void>((resolve, reject) => {
      const timer = setTimeout(
        () => reject(new Error(`received ${received.length} of ${sent.length} records`)),
        60_000,
      );
      void consumer.run({
        eachMessage: async ({ message }) => {
          received.push(message.value!.toString());
          if (received.length === sent.length) {
            clearTimeout(timer);
            resolve();
          }
        },
      });
    });
    await consumer.disconnect();
    expect(received.sort()).toEqual(sent.map((m) => m.value).sort());
  });

  test("node faults: kill, restart, pause/resume, terminate, addNode", async () => {
    const killed = cluster.nodes()[2].pid!;
    await cluster.kill(3);
    expect(pidGone(killed)).toBe(true);
    expect(cluster.nodes()[2].running).toBe(false);
    await cluster.restart(3);
    const restarted = cluster.nodes()[2];
    expect(restarted.running && restarted.pid !== killed).toBe(true);

    await cluster.pause(2);
    expect(cluster.nodes()[1].paused).toBe(true);
    await cluster.resume(2);
    const term = await cluster.terminate(2, 30_000);
    expect(term.clean).toBe(true);
    await cluster.restart(2);

    const added = await cluster.addNode();
    expect(added).toMatchObject({ nodeId: 4, roles: ["broker"], running: true });
    const md = await probeMetadata("127.0.0.1", added.port);
    expect(md.brokers.map((b) => b.nodeId).sort()).toEqual([1, 2, 3, 4]);
    expect((await cluster.logs(1, 5)).split("\n")).toHaveLength(5);
    expect(await cluster.logs(1, 1_000_000)).toContain("Kafka Server started");

    pids = [...pids, ...cluster.nodes().map((n) => n.pid!)];
    ports = [...new Set([...ports, ...cluster.nodes().flatMap((n) => [n.port, n.controllerPort ?? n.port])])];
  });

  test("stop() leaves no process, listening port or data directory behind", async () => {
    await cluster.stop();
    expect(await eventually(() => leftovers(pids, ports).pids.length === 0)).toBe(true);
    expect(leftovers(pids, ports)).toEqual({ pids: [], ports: [] });
    for (const port of ports) expect(await canConnect(port)).toBe(false);
    expect(rootDir && existsSync(rootDir)).toBe(false);
  });
});
