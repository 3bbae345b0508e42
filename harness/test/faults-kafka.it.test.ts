// The fault plane in front of a real Apache Kafka node: the node advertises its client proxy, so once
// the node is isolated a kafkajs produce times out, and after heal a produce succeeds again.
import { Kafka, logLevel, type Producer } from "kafkajs";
import { afterAll, beforeAll, describe, expect, test } from "vitest";
import { createCluster } from "../cluster/index.ts";
import type { Cluster } from "../cluster/types.ts";
import { type FaultEvent, FaultPlane } from "../faults/fault-plane.ts";
import { missingTools } from "../tools.ts";

const missing = missingTools("java", "kafka", ...(process.env.TOXIPROXY_URL ? [] : (["toxiproxy"] as const)));
if (missing) console.warn(`faults-kafka.it.test.ts skipped: ${missing}`);

const TOPIC = "faults-kafka";

describe.skipIf(!!missing)(
  `fault plane in front of Apache Kafka${missing ? ` (skipped: ${missing})` : ""}`,
  () => {
    let plane: FaultPlane;
    let cluster: Cluster;
    let kafka: Kafka;
    const events: FaultEvent[] = [];
    const producers: Producer[] = [];

    async function newProducer(): Promise<Producer> {
      const producer = kafka.producer({
        allowAutoTopicCreation: false,
        retry: { retries: 1, initialRetryTime: 100, maxRetryTime: 300 },
      });
      producers.push(producer);
      await producer.connect();
      return producer;
    }

    beforeAll(async () => {
      plane = await FaultPlane.open({ onEvent: (e) => events.push(e) });
      cluster = createCluster({ target: "kafka", nodes: 1, advertise: plane.advertiseClients() });
      await cluster.start();
      kafka = new Kafka({
        clientId: "gauntlet-faults-test",
        brokers: cluster.bootstrapServers().split(","),
        logLevel: logLevel.NOTHING,
        connectionTimeout: 2000,
        requestTimeout: 3000,
        retry: { retries: 1, initialRetryTime: 100, maxRetryTime: 300 },
      });
      const admin = kafka.admin();
      await admin.connect();
      try {
        await admin.createTopics({
          topics: [{ topic: TOPIC, numPartitions: 1, replicationFactor: 1 }],
          waitForLeaders: true,
        });
      } finally {
        await admin.disconnect();
      }
    });

    afterAll(async () => {
      for (const producer of producers) await producer.disconnect().catch(() => {});
      await cluster?.stop();
      await plane?.close();
    });

    test("the node advertises its client proxy, so clients only ever reach it through the proxy", () => {
      const [node] = cluster.nodes();
      const proxy = plane.clientAddress(node.nodeId)!;
      expect({ host: node.advertisedHost, port: node.advertisedPort }).toEqual(proxy);
      expect(node.port).not.toBe(proxy.port);
      expect(cluster.bootstrapServers()).toBe(`${proxy.host}:${proxy.port}`);
    });

    test("a produce to an isolated broker times out; after heal a produce succeeds", async () => {
      const producer = await newProducer();
      const ok = await producer.send({ topic: TOPIC, acks: -1, messages: [{ value: "before" }] });
      expect(ok[0].errorCode).toBe(0);

      const fault = await plane.isolate(1);
      const t0 = Date.now();
      await expect(
        producer.send({ topic: TOPIC, acks: -1, messages: [{ value: "during" }] }),
      ).rejects.toThrow();
      console.log(`produce to the isolated broker failed after ${Date.now() - t0} ms`);

      await plane.heal();
      // The connections that lived through the fault are closed on heal; the client reconnects.
      const deadline = Date.now() + 30_000;
      let sent = false;
      let lastError: unknown;
      while (!sent && Date.now() < deadline) {
        try {
          const res = await producer.send({ topic: TOPIC, acks: -1, messages: [{ value: "after" }] });
          sent = res[0].errorCode === 0;
        } catch (err) {
          lastError = err;
          await new Promise((resolve) => setTimeout(resolve, 500));
        }
      }
      expect(sent, `no produce succeeded within 30 s after heal: ${String(lastError)}`).toBe(true);
      expect(events.filter((e) => e.id === fault.id).map((e) => e.fault)).toEqual(["start", "stop"]);
    });
  },
);
