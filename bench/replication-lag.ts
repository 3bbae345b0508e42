// Replication lag during a produce phase (3+ nodes): how far each partition's slowest follower is
// behind its leader. Every node is asked for its replicas' log sizes (DescribeLogDirs, the same request
// for Kafka and the reference broker) a few times a second; followers copy batches verbatim, so the
// leader's size minus a follower's is the bytes not yet replicated, and divided by the partition's
// write rate over the window it becomes a time. The sampling (I/O) and the arithmetic (pure) are apart.
import { describePartitions, replicaLogSizes } from "../harness/cluster/leaders.ts";
import type { Cluster } from "../harness/cluster/types.ts";
import type { ReplicationLagFigures } from "./report.ts";
import { monoMs, sleep } from "./workers/clock.ts";

/** One round of answers: per node, the byte size of each partition replica it holds ("topic/partition"). */
export interface LagSample {
  /** When the round started (ms, monotonic). */
  atMs: number;
  /** From the round's first request to its last answer: how far apart the sizes were read. */
  spreadMs: number;
  sizes: Map<number, Map<string, number>>;
}

export interface PartitionReplicas {
  key: string;
  leader: number;
  replicas: number[];
}

function nearestRank(sorted: number[], q: number): number {
  if (!sorted.length) return 0;
  return sorted[Math.min(sorted.length - 1, Math.max(0, Math.ceil(q * sorted.length) - 1))];
}

const round1 = (n: number) => Math.round(n * 10) / 10;

/**
 * The lag figures of a series of samples (pure). Per sample, the lag is the worst over partitions of
 * (leader bytes - slowest follower's bytes), in bytes and, at that partition's mean write rate over the
 * series, in milliseconds. Partitions that did not grow are left out of the time figures.
 */
export function replicationLag(samples: LagSample[], partitions: PartitionReplicas[]): ReplicationLagFigures {
  const usable = samples.filter((s) => partitions.every((p) => s.sizes.get(p.leader)?.has(p.key)));
  const first = usable[0];
  const last = usable[usable.length - 1];
  const bytesPerMs = new Map<string, number>();
  if (first && last && last.atMs > first.atMs) {
    for (const p of partitions) {
      const grown =
        (last.sizes.get(p.leader)?.get(p.key) ?? 0) - (first.sizes.get(p.leader)?.get(p.key) ?? 0);
      if (grown > 0) bytesPerMs.set(p.key, grown / (last.atMs - first.atMs));
    }
  }
  const lagBytes: number[] = [];
  const lagMs: number[] = [];
  for (const s of usable) {
    let worstBytes = 0;
    let worstMs = 0;
    for (const p of partitions) {
      const leaderBytes = s.sizes.get(p.leader)?.get(p.key) ?? 0;
      let behind = 0;
      for (const r of p.replicas) {
        if (r === p.leader) continue;
        const followerBytes = s.sizes.get(r)?.get(p.key);
        if (followerBytes !== undefined) behind = Math.max(behind, leaderBytes - followerBytes);
      }
      worstBytes = Math.max(worstBytes, behind);
      const rate = bytesPerMs.get(p.key);
      if (rate) worstMs = Math.max(worstMs, behind / rate);
    }
    lagBytes.push(worstBytes);
    lagMs.push(worstMs);
  }
  lagBytes.sort((a, b) => a - b);
  lagMs.sort((a, b) => a - b);
  const spreads = usable.map((s) => s.spreadMs).sort((a, b) => a - b);
  return {
    samples: usable.length,
    failedSamples: samples.length - usable.length,
    bytes: { p50: nearestRank(lagBytes, 0.5), p99: nearestRank(lagBytes, 0.99), max: lagBytes.at(-1) ?? 0 },
    ms: {
      p50: round1(nearestRank(lagMs, 0.5)),
      p99: round1(nearestRank(lagMs, 0.99)),
      max: round1(lagMs.at(-1) ?? 0),
    },
    readSpreadMsMedian: round1(nearestRank(spreads, 0.5)),
  };
}

/**
 * Samples every node's replica sizes of `topic` from `fromMs` to `toMs` (monotonic) every `everyMs`;
 * resolves with the figures after `toMs`. A round a node did not answer (within 1 s) is counted as failed.
 */
export async function sampleReplicationLag(
  cluster: Cluster,
  topic: string,
  partitionCount: number,
  fromMs: number,
  toMs: number,
  everyMs = 250,
): Promise<ReplicationLagFigures> {
  const states = await describePartitions(cluster.bootstrapServers(), [topic]);
  const partitions: PartitionReplicas[] = states.map((s) => ({
    key: `${s.topic}/${s.partition}`,
    leader: s.leader,
    replicas: s.replicas,
  }));
  const request = [{ topic, partitions: Array.from({ length: partitionCount }, (_, i) => i) }];
  const nodes = cluster.nodes().filter((n) => n.running);
  const samples: LagSample[] = [];
  if (fromMs > monoMs()) await sleep(fromMs - monoMs());
  while (monoMs() < toMs) {
    const atMs = monoMs();
    const sizes = new Map<number, Map<string, number>>();
    await Promise.all(
      nodes.map(async (n) => {
        try {
          const replicas = await replicaLogSizes({ host: n.host, port: n.port }, request, {
            timeoutMs: 1000,
          });
          sizes.set(n.nodeId, new Map(replicas.map((r) => [`${r.topic}/${r.partition}`, r.bytes])));
        } catch {
          // left out of this round: replicationLag() counts the round as failed
        }
      }),
    );
    if (sizes.size === nodes.length) samples.push({ atMs, spreadMs: monoMs() - atMs, sizes });
    else samples.push({ atMs, spreadMs: monoMs() - atMs, sizes: new Map() });
    const next = atMs + everyMs;
    if (next > monoMs()) await sleep(next - monoMs());
  }
  return replicationLag(samples, partitions);
}
