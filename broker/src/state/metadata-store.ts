/**
 * The broker's durable metadata: cluster id, topics (id, partition count, config overrides) and the
 * producer-id allocation watermark, in one small JSON file replaced atomically (write a temp file,
 * fsync it, rename over the old one, fsync the directory). Writes are serialised.
 */
import { randomBytes, randomUUID } from "node:crypto";
import { constants as fsConstants } from "node:fs";
import { mkdir, open, readFile, rename } from "node:fs/promises";
import { join } from "node:path";

export const STATE_FILE = "broker-state.json";
const STATE_VERSION = 1;

export interface TopicMeta {
  name: string;
  /** Canonical UUID string. */
  id: string;
  partitions: number;
  configs: Record<string, string>;
  createdAtMs: number;
}

interface StateFile {
  version: number;
  clusterId: string;
  nodeId: number;
  /** Producer ids below this may have been handed out; allocation resumes here after a restart. */
  producerIdBlockEnd: string;
  topics: TopicMeta[];
}

/** Kafka cluster ids are 16 random bytes in URL-safe base64 without padding (Uuid.randomUuid().toString()). */
export function newClusterId(): string {
  return randomBytes(16).toString("base64url");
}

/** A random topic id that is never the zero UUID nor the reserved metadata-topic id. */
export function newTopicId(): string {
  for (;;) {
    const id = randomUUID();
    if (id !== "00000000-0000-0000-0000-000000000000" && id !== "00000000-0000-0000-0000-000000000001")
      return id;
  }
}

/** The data dir belongs to another cluster (or node): the broker must not start on it. */
export class ClusterIdentityError extends Error {
  override name = "ClusterIdentityError";
}

export class MetadataStore {
  clusterId = "";
  producerIdBlockEnd = 0n;
  readonly topics = new Map<string, TopicMeta>();
  private writeChain: Promise<void> = Promise.resolve();

  constructor(
    readonly dataDir: string,
    readonly nodeId: number,
    /** Cluster mode: the configured cluster id (a new data dir takes it; another one is refused). */
    readonly expectedClusterId?: string,
  ) {}

  async load(): Promise<void> {
    await mkdir(this.dataDir, { recursive: true });
    let text: string | undefined;
    try {
      text = await readFile(join(this.dataDir, STATE_FILE), "utf8");
    } catch (e) {
      if ((e as NodeJS.ErrnoException).code !== "ENOENT") throw e;
    }
    if (text === undefined) {
      this.clusterId = this.expectedClusterId ?? newClusterId();
      await this.save();
      return;
    }
    const state = JSON.parse(text) as StateFile;
    if (state.version !== STATE_VERSION)
      throw new Error(`unsupported ${STATE_FILE} version ${state.version}`);
    if (state.nodeId !== this.nodeId) {
      throw new ClusterIdentityError(
        `data dir ${this.dataDir} belongs to node ${state.nodeId}, not node ${this.nodeId}: refusing to start`,
      );
    }
    if (this.expectedClusterId !== undefined && state.clusterId !== this.expectedClusterId) {
      throw new ClusterIdentityError(
        `data dir ${this.dataDir} belongs to cluster ${state.clusterId}, not ${this.expectedClusterId}: refusing to start`,
      );
    }
    this.clusterId = state.clusterId;
    this.producerIdBlockEnd = BigInt(state.producerIdBlockEnd);
    for (const t of state.topics) this.topics.set(t.name, t);
  }

  /** Persists the current state; concurrent calls are serialised and each resolves once durable. */
  save(): Promise<void> {
    const snapshot: StateFile = {
      version: STATE_VERSION,
      clusterId: this.clusterId,
      nodeId: this.nodeId,
      producerIdBlockEnd: this.producerIdBlockEnd.toString(),
      topics: [...this.topics.values()].map((t) => ({ ...t, configs: { ...t.configs } })),
    };
    const next = this.writeChain.then(() =>
      writeAtomic(this.dataDir, STATE_FILE, JSON.stringify(snapshot, null, 2)),
    );
    this.writeChain = next.catch(() => {});
    return next;
  }
}

async function writeAtomic(dir: string, name: string, content: string): Promise<void> {
  const path = join(dir, name);
  const tmp = `${path}.tmp`;
  const fh = await open(tmp, "w");
  try {
    await fh.writeFile(content);
    await fh.sync();
  } finally {
    await fh.close();
  }
  await rename(tmp, path);
  const dh = await open(dir, fsConstants.O_RDONLY | fsConstants.O_DIRECTORY);
  try {
    await dh.sync();
  } finally {
    await dh.close();
  }
}
