/**
 * Rack-aware replica placement, deterministic given its inputs (no ambient randomness).
 *
 * Brokers are ordered into one rack-alternating ring: the racks sorted by name, brokers sorted by id
 * within each rack, then taken one per rack in turn (r1b1, r2b1, r3b1, r1b2, ...). Partition `p` gets its
 * leader at ring position `(seed + p) mod n`, so consecutive partitions rotate leadership over every
 * broker (leader counts differ by at most one). Followers are taken walking the ring from the leader
 * with a per-round shift, preferring brokers on racks the partition does not use yet; once every rack
 * holds a replica any unused broker is taken. So replicas are always distinct brokers, and on distinct
 * racks whenever there are at least as many racks as replicas.
 *
 * Brokers without a rack are each treated as a rack of their own (Kafka refuses mixed rack/no-rack
 * clusters unless told otherwise; here they simply never share a rack with anybody).
 */

export interface PlacementBroker {
  id: number;
  rack: string | null;
}

export class PlacementError extends Error {
  constructor(message: string) {
    super(message);
    this.name = "PlacementError";
  }
}

function rackOf(b: PlacementBroker): string {
  return b.rack === null || b.rack === "" ? `\u0000no-rack-${b.id}` : `rack:${b.rack}`;
}

/** The rack-alternating broker ring described above. */
export function rackAlternatingRing(brokers: readonly PlacementBroker[]): PlacementBroker[] {
  const byRack = new Map<string, PlacementBroker[]>();
  for (const b of [...brokers].sort((x, y) => x.id - y.id)) {
    const key = rackOf(b);
    const list = byRack.get(key);
    if (list === undefined) byRack.set(key, [b]);
    else list.push(b);
  }
  const racks = [...byRack.keys()].sort();
  const ring: PlacementBroker[] = [];
  for (let round = 0; ring.length < brokers.length; round++) {
    for (const r of racks) {
      const b = byRack.get(r)![round];
      if (b !== undefined) ring.push(b);
    }
  }
  return ring;
}

/**
 * Replica lists for partitions `startPartition .. startPartition + count - 1` (leader first).
 * Throws PlacementError when `replicationFactor` exceeds the number of brokers.
 */
export function placeReplicas(
  brokers: readonly PlacementBroker[],
  startPartition: number,
  count: number,
  replicationFactor: number,
  seed = 0,
): number[][] {
  const n = brokers.length;
  if (replicationFactor <= 0) throw new PlacementError("Replication factor must be larger than 0.");
  if (replicationFactor > n) {
    throw new PlacementError(
      `The target replication factor of ${replicationFactor} cannot be reached because only ${n} broker(s) are registered.`,
    );
  }
  const ring = rackAlternatingRing(brokers);
  const rackCount = new Set(ring.map(rackOf)).size;
  const base = ((Math.trunc(seed) % n) + n) % n;
  const out: number[][] = [];
  for (let i = 0; i < count; i++) {
    const p = startPartition + i;
    const leaderPos = (base + p) % n;
    // The shift changes every full round over the ring, so followers of the same leader vary.
    const shift = n > 1 ? Math.floor((base + p) / n) % (n - 1) : 0;
    const chosen = [ring[leaderPos]];
    const usedRacks = new Set([rackOf(ring[leaderPos])]);
    const used = new Set([ring[leaderPos].id]);
    while (chosen.length < replicationFactor) {
      const wantNewRack = usedRacks.size < rackCount;
      let picked: PlacementBroker | undefined;
      for (let step = 0; step < n - 1 && picked === undefined; step++) {
        const b = ring[(leaderPos + 1 + ((shift + step) % (n - 1))) % n];
        if (used.has(b.id)) continue;
        if (wantNewRack && usedRacks.has(rackOf(b))) continue;
        picked = b;
      }
      if (picked === undefined) throw new PlacementError("no eligible broker left (internal error)");
      chosen.push(picked);
      used.add(picked.id);
      usedRacks.add(rackOf(picked));
    }
    out.push(chosen.map((b) => b.id));
  }
  return out;
}
