// The image target on the docker backend: an image that never logs its ready line and an image that
// is not in the engine each fail with one sentence, and nothing the attempt created remains.
import { execFileSync } from "node:child_process";
import { describe, expect, test } from "vitest";
import { createCluster } from "../cluster/index.ts";
import type { DockerCluster } from "../docker/cluster.ts";
import { dockerMissing } from "../docker/engine.ts";
import { ensureReferenceImage } from "../docker/images.ts";
import { validateProfile } from "../docker/profile.ts";

const missing = await dockerMissing();
if (missing) console.warn(`docker-image-target.it.test.ts skipped: ${missing}`);

const labelled = (runId: string) =>
  execFileSync("docker", ["ps", "-aq", "--filter", `label=gauntlet.run=${runId}`], {
    encoding: "utf8",
  }).trim();

describe.skipIf(missing)("image target", () => {
  test("an image that never logs ready: one sentence naming the pattern, nothing left", async () => {
    const { tag } = await ensureReferenceImage();
    const profile = validateProfile({
      clientPort: 9092,
      dataDir: "/data",
      ready: "this line never comes",
      // a broker that starts and serves, but never prints the line the profile waits for
      command: [
        "--node-id",
        "${NODE_ID}",
        "--listen",
        "0.0.0.0:9092",
        "--advertised",
        "${ADVERTISED}",
        "--data-dir",
        "/data",
      ],
    });
    const cluster = createCluster({
      target: "image",
      backend: "docker",
      image: tag,
      profile,
      nodes: 1,
      readyTimeoutMs: 5000,
    }) as DockerCluster;
    await expect(cluster.start()).rejects.toThrow(/did not log \/this line never comes\/ within 5 s/);
    expect(cluster.run).toMatch(/^gauntlet-/);
    expect(labelled(cluster.run)).toBe("");
    expect(cluster.rootDir()).toBeUndefined();
  }, 120_000);

  test("an image the engine does not have is refused before anything is created", async () => {
    const cluster = createCluster({
      target: "image",
      backend: "docker",
      image: "gauntlet/does-not-exist:1",
      profile: validateProfile({ clientPort: 9092, dataDir: "/data", ready: "x" }),
    }) as DockerCluster;
    await expect(cluster.start()).rejects.toThrow(
      "The image gauntlet/does-not-exist:1 is not in the local docker engine: build or load it first (docker build / docker load); Gauntlet does not pull images.",
    );
    expect(cluster.run).toBe("");
  }, 60_000);
});
