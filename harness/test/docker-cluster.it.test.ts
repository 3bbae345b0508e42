// The docker backend: the reference broker and a 3-node Apache Kafka cluster in containers built
// from local parts, serving kafkajs through ports published on 127.0.0.1, surviving kill/restart,
// and leaving no container, network or volume behind (checked with the docker CLI by run label),
// even when the harness itself is SIGKILLed. Also measures start-up times against the process backend.
import { execFileSync, spawn } from "node:child_process";
import { existsSync } from "node:fs";
import { createServer, type Server } from "node:net";
import { Kafka, logLevel } from "kafkajs";
import { describe, expect, test } from "vitest";
import { createCluster } from "../cluster/index.ts";
import { probeMetadata } from "../cluster/kafka-probe.ts";
import type { DockerCluster } from "../docker/cluster.ts";
import { dockerMissing } from "../docker/engine.ts";
import type { KafkaCluster } from "../targets/kafka.ts";
import { missingTools, REPO_ROOT } from "../tools.ts";
import { eventually } from "./leak-check.ts";

const missing = (await dockerMissing()) ?? missingTools("java", "kafka", "toxiproxy");
if (missing) console.warn(`docker-cluster.it.test.ts skipped: ${missing}`);

/** What the docker CLI still lists with the run's label (should be nothing after stop). */
function leftoversOf(runId: string): string[] {
  const filter = `label=gauntlet.run=${runId}`;
  const list = (args: string[]) =>
    execFileSync("docker", args, { encoding: "utf8" })
      .split("\n")
      .filter(Boolean)
      .map((id) => `${args[0] === "ps" ? "container" : args[0]} ${id}`);
  return [
    ...list(["ps", "-aq", "--filter", filter]),
    ...list(["network", "ls", "-q", "--filter", filter]),
    ...list(["volume", "ls", "-q", "--filter", filter]),
  ];
}

async function roundTrip(
  bootstrap: string,
  topic: string,
  count: number,
  replicationFactor = 1,
): Promise<string[]> {
  const kafka = new Kafka({
    clientId: "gauntlet-docker-test",
    brokers: bootstrap.split(","),
    logLevel: logLevel.NOTHING,
  });
  const admin = kafka.admin();
  await admin.connect();
  await admin.createTopics({
    topics: [{ topic, numPartitions: 1, replicationFactor }],
    waitForLeaders: true,
  });
  await admin.disconnect();
  const producer = kafka.producer();
  await producer.connect();
  const values = Array.from({ length: count }, (_, i) => `${topic}-${i}`);
  await producer.send({ topic, acks: -1, messages: values.map((value) => ({ value })) });
  await producer.disconnect();
  const consumer = kafka.consumer({ groupId: `g-${topic}` });
  await consumer.connect();
  await consumer.subscribe({ topic, fromBeginning: true });
  const seen: string[] = [];
  await new Promise<void>((resolve, reject) => {
    const timer = setTimeout(() => reject(new Error(`consumed ${seen.length} of ${count}`)), 60_000);
    void consumer.run({
      eachMessage: async ({ message }) => {
        seen.push(message.value!.toString());
        if (seen.length >= count) {
          clearTimeout(timer);
          resolve();
        }
      },
    });
  });
  await consumer.disconnect();
  return seen;
}

const seconds = (ms: number) => `${(ms / 1000).toFixed(1)} s`;

describe.skipIf(!!missing)(`docker backend${missing ? ` (skipped: ${missing})` : ""}`, () => {
  test("reference broker: 1 node serves kafkajs, survives kill/restart and pause, leaves nothing", async () => {
    const cluster = createCluster({ target: "reference", nodes: 1, backend: "docker" }) as DockerCluster;
    let runId = "";
    try {
      const t0 = Date.now();
      await cluster.start();
      runId = cluster.run;
      console.log(
        `docker reference node: start() ${seconds(Date.now() - t0)} (image ${seconds(cluster.lastImageMs)}, container to serving ${seconds(cluster.lastStartMs)})`,
      );
      expect(cluster.nodes()[0].running).toBe(true);
      const md = await probeMetadata("127.0.0.1", cluster.nodes()[0].port);
      expect(md.brokers.map((b) => b.nodeId)).toEqual([1]);
      expect(await roundTrip(cluster.bootstrapServers(), "docker-ref-a", 20)).toHaveLength(20);

      await cluster.kill(1);
      expect(cluster.nodes()[0].running).toBe(false);
      await cluster.restart(1);
      expect(cluster.nodes()[0].running).toBe(true);
      await cluster.pause(1);
      expect(cluster.nodes()[0].paused).toBe(true);
      await cluster.resume(1);
      const term = await cluster.terminate(1, 10_000);
      expect(term.clean).toBe(true);
      await cluster.restart(1);
      expect(await roundTrip(cluster.bootstrapServers(), "docker-ref-b", 5)).toHaveLength(5);
      expect(await cluster.logs(1, 50)).toMatch(/broker ready/);
    } finally {
      const root = cluster.rootDir();
      await cluster.stop();
      if (runId) expect(leftoversOf(runId)).toEqual([]);
      if (root) expect(existsSync(root)).toBe(false);
    }
    // The same node on the process backend, for comparison.
    const proc = createCluster({ target: "reference", nodes: 1 });
    const t1 = Date.now();
    await proc.start();
    console.log(`process reference node: start() ${seconds(Date.now() - t1)}`);
    await proc.stop();
  });

  test("Apache Kafka: 3 nodes in containers serve kafkajs with replication, survive a node kill, leave nothing", async () => {
    const cluster = createCluster({
      target: "kafka",
      nodes: 3,
      backend: "docker",
      racks: ["a", "b", "c"],
    }) as DockerCluster;
    let runId = "";
    let dockerMs = 0;
    try {
      const t0 = Date.now();
      await cluster.start();
      dockerMs = Date.now() - t0;
      runId = cluster.run;
      console.log(
        `docker 3-node Kafka: start() ${seconds(dockerMs)} (image ${seconds(cluster.lastImageMs)}, containers to all brokers registered ${seconds(cluster.lastStartMs)})`,
      );
      const md = await probeMetadata("127.0.0.1", cluster.nodes()[0].port);
      expect(md.brokers.map((b) => b.nodeId).sort()).toEqual([1, 2, 3]);
      expect(md.brokers.map((b) => b.rack).sort()).toEqual(["a", "b", "c"]);
      expect(await roundTrip(cluster.bootstrapServers(), "docker-kafka-a", 30, 3)).toHaveLength(30);

      await cluster.kill(3);
      expect(cluster.nodes()[2].running).toBe(false);
      // Until the controller fences the dead broker, Metadata may still name it as a leader or
      // coordinator and clients would keep dialing its closed port; wait for the fence first.
      const fenceDeadline = Date.now() + 60_000;
      for (;;) {
        const live = await probeMetadata("127.0.0.1", cluster.nodes()[0].port);
        if (!live.brokers.some((b) => b.nodeId === 3)) break;
        if (Date.now() > fenceDeadline) throw new Error("broker 3 was not fenced within 60 s of its kill");
        await new Promise((r) => setTimeout(r, 250));
      }
      expect(await roundTrip(cluster.bootstrapServers(), "docker-kafka-b", 10, 2)).toHaveLength(10);
      await cluster.restart(3);
      expect(cluster.nodes()[2].running).toBe(true);
      const after = await probeMetadata("127.0.0.1", cluster.nodes()[2].port);
      expect(after.brokers.map((b) => b.nodeId).sort()).toEqual([1, 2, 3]);
    } finally {
      const root = cluster.rootDir();
      await cluster.stop();
      if (runId) expect(leftoversOf(runId)).toEqual([]);
      if (root) expect(existsSync(root)).toBe(false);
    }
    const proc = createCluster({ target: "kafka", nodes: 3 }) as KafkaCluster;
    const t1 = Date.now();
    await proc.start();
    const processMs = Date.now() - t1;
    await proc.stop();
    console.log(`3-node Kafka until it serves: docker ${seconds(dockerMs)}, process ${seconds(processMs)}`);
  });

  test("bad input: a taken port and a node that exits are one clear sentence, and nothing is left", async () => {
    const server: Server = createServer();
    await new Promise<void>((resolve) => server.listen(0, "127.0.0.1", resolve));
    const port = (server.address() as { port: number }).port;
    try {
      const taken = createCluster({ target: "reference", nodes: 1, backend: "docker", ports: [port] });
      await expect(taken.start()).rejects.toThrow(`Port ${port} on 127.0.0.1 is already in use`);
    } finally {
      server.close();
    }
    // The Kafka image as a "reference" broker: java rejects the broker's arguments and exits.
    const { ensureKafkaImage } = await import("../docker/images.ts");
    const image = (await ensureKafkaImage()).tag;
    const broken = createCluster({
      target: "reference",
      nodes: 1,
      backend: "docker",
      readyTimeoutMs: 20_000,
    });
    (broken as unknown as { options: { image?: string } }).options.image = image;
    const error = await broken.start().then(
      () => undefined,
      (err: Error) => err,
    );
    expect(error?.message).toMatch(/reference node 1 \(image gauntlet\/kafka:[0-9a-f]+\) did not log/);
    const runId = (broken as DockerCluster).run;
    expect(runId).not.toBe("");
    expect(leftoversOf(runId)).toEqual([]);
  });

  test("a SIGKILLed harness leaves nothing: its reaper removes the run's containers and network", async () => {
    const script = [
      `import { createCluster } from ${JSON.stringify(`${REPO_ROOT}/harness/cluster/index.ts`)};`,
      `const c = createCluster({ target: "reference", nodes: 1, backend: "docker" });`,
      "await c.start();",
      'console.log("RUN " + c.run);',
      "setInterval(() => {}, 1000);",
    ].join("\n");
    const child = spawn(process.execPath, ["--import", "tsx", "--input-type=module", "-e", script], {
      cwd: REPO_ROOT,
      stdio: ["ignore", "pipe", "inherit"],
    });
    const runId = await new Promise<string>((resolve, reject) => {
      let out = "";
      child.stdout!.on("data", (chunk: Buffer) => {
        out += chunk.toString();
        const m = /RUN (\S+)/.exec(out);
        if (m) resolve(m[1]);
      });
      child.on("exit", (code) =>
        reject(new Error(`the child harness exited (${code}) before starting: ${out}`)),
      );
    });
    expect(leftoversOf(runId).length).toBeGreaterThan(0);
    child.kill("SIGKILL");
    expect(await eventually(() => leftoversOf(runId).length === 0, 30_000)).toBe(true);
  });
});
