#!/usr/bin/env tsx
// `npm run compose:images`: builds the images docker-compose.yml uses from local parts (no registry
// needed: harness/docker/images.ts) and tags them gauntlet/reference:compose and
// gauntlet/toxiproxy:compose, the compose file's defaults.
import { loadTestcontainers, requireEngine } from "../harness/docker/engine.ts";
import { ensureReferenceImage, ensureToxiproxyImage } from "../harness/docker/images.ts";

export const COMPOSE_TAG = "compose";

/** Builds (or finds) both images and tags them :compose; returns the tags. */
export async function buildComposeImages(): Promise<string[]> {
  await requireEngine();
  const docker = (await (await loadTestcontainers()).getContainerRuntimeClient()).container.dockerode;
  const tags: string[] = [];
  for (const ensure of [ensureReferenceImage, ensureToxiproxyImage]) {
    const { tag } = await ensure();
    const repo = tag.slice(0, tag.lastIndexOf(":"));
    await docker.getImage(tag).tag({ repo, tag: COMPOSE_TAG });
    tags.push(`${repo}:${COMPOSE_TAG}`);
  }
  return tags;
}

if (import.meta.url === `file://${process.argv[1]}`) {
  try {
    const tags = await buildComposeImages();
    console.log(`tagged ${tags.join(", ")} (built from local parts)`);
  } catch (err) {
    console.error(`compose:images: ${(err as Error).message.split("\n")[0]}`);
    process.exit(1);
  }
}
