/**
 * Invariants of a metadata image and of a sequence of images, for tests and the simulator. Each check
 * returns human-readable violations (empty when the image is sound).
 */
import { configKey, type MetadataImage, NO_LEADER, RESOURCE_TOPIC } from "./metadata-image.ts";

function distinct(xs: readonly number[]): boolean {
  return new Set(xs).size === xs.length;
}

/**
 * Per image: replicas non-empty and distinct; ISR non-empty, distinct and ⊆ replicas; the leader is
 * NO_LEADER or an ISR member that is a registered, unfenced broker; adding/removing replicas ⊆ replicas
 * and disjoint; epochs non-negative; the name ↔ id index agrees with the topics; topic configs belong to
 * existing topics.
 */
export function checkImageInvariants(image: MetadataImage): string[] {
  const v: string[] = [];
  if (image.topicIds.size !== image.topics.size) {
    v.push(`topic index has ${image.topicIds.size} names for ${image.topics.size} topics`);
  }
  for (const [name, id] of image.topicIds) {
    const t = image.topics.get(id);
    if (t === undefined || t.name !== name)
      v.push(`topic index maps ${name} to ${id}, which is not that topic`);
  }
  for (const t of image.topics.values()) {
    if (t.partitions.size === 0) v.push(`${t.name}: no partitions`);
    for (let i = 0; i < t.partitions.size; i++) {
      if (!t.partitions.has(i)) v.push(`${t.name}: partition ids are not 0..${t.partitions.size - 1}`);
    }
    for (const p of t.partitions.values()) {
      const tp = `${t.name}-${p.partition}`;
      if (p.replicas.length === 0) v.push(`${tp}: no replicas`);
      if (!distinct(p.replicas)) v.push(`${tp}: replicas ${p.replicas} not distinct`);
      if (p.isr.length === 0) v.push(`${tp}: empty ISR`);
      if (!distinct(p.isr)) v.push(`${tp}: ISR ${p.isr} not distinct`);
      for (const r of p.isr) if (!p.replicas.includes(r)) v.push(`${tp}: ISR member ${r} is not a replica`);
      if (p.leader !== NO_LEADER) {
        if (!p.isr.includes(p.leader)) v.push(`${tp}: leader ${p.leader} is not in the ISR ${p.isr}`);
        const b = image.brokers.get(p.leader);
        if (b === undefined) v.push(`${tp}: leader ${p.leader} is not a registered broker`);
        else if (b.fenced) v.push(`${tp}: leader ${p.leader} is fenced`);
      }
      for (const r of p.addingReplicas) {
        if (!p.replicas.includes(r)) v.push(`${tp}: adding replica ${r} is not a replica`);
        if (p.removingReplicas.includes(r)) v.push(`${tp}: replica ${r} both adding and removing`);
      }
      for (const r of p.removingReplicas) {
        if (!p.replicas.includes(r)) v.push(`${tp}: removing replica ${r} is not a replica`);
      }
      if (p.leaderEpoch < 0 || p.partitionEpoch < 0) v.push(`${tp}: negative epoch`);
    }
  }
  for (const key of image.configs.keys()) {
    if (!key.startsWith(`${RESOURCE_TOPIC}:`)) continue;
    const name = key.slice(`${RESOURCE_TOPIC}:`.length);
    if (!image.topicIds.has(name) || key !== configKey(RESOURCE_TOPIC, name)) {
      v.push(`configs for topic ${name}, which does not exist`);
    }
  }
  return v;
}

/**
 * Between consecutive images of one log: the offset, producer-id watermark and broker epochs never go
 * back; for a partition that survives, leader and partition epochs never go back, a leader change bumps
 * the leader epoch, and any change bumps the partition epoch.
 */
export function checkTransitionInvariants(prev: MetadataImage, next: MetadataImage): string[] {
  const v: string[] = [];
  if (next.highestOffset < prev.highestOffset)
    v.push(`offset went back ${prev.highestOffset} → ${next.highestOffset}`);
  if (next.nextProducerId < prev.nextProducerId) v.push("next producer id went back");
  for (const [id, b] of next.brokers) {
    const before = prev.brokers.get(id);
    if (before !== undefined && b.epoch < before.epoch) v.push(`broker ${id} epoch went back`);
  }
  for (const [id, t] of next.topics) {
    const before = prev.topics.get(id);
    if (before === undefined) continue;
    for (const [index, p] of t.partitions) {
      const q = before.partitions.get(index);
      if (q === undefined) continue;
      const tp = `${t.name}-${index}`;
      if (p.leaderEpoch < q.leaderEpoch)
        v.push(`${tp}: leader epoch went back ${q.leaderEpoch} → ${p.leaderEpoch}`);
      if (p.partitionEpoch < q.partitionEpoch) {
        v.push(`${tp}: partition epoch went back ${q.partitionEpoch} → ${p.partitionEpoch}`);
      }
      if (p.leader !== q.leader && p.leaderEpoch <= q.leaderEpoch) {
        v.push(`${tp}: leader changed ${q.leader} → ${p.leader} without a leader epoch bump`);
      }
      const changed =
        p.leader !== q.leader ||
        p.isr.join() !== q.isr.join() ||
        p.replicas.join() !== q.replicas.join() ||
        p.addingReplicas.join() !== q.addingReplicas.join() ||
        p.removingReplicas.join() !== q.removingReplicas.join() ||
        p.leaderRecoveryState !== q.leaderRecoveryState;
      if (changed && p.partitionEpoch <= q.partitionEpoch)
        v.push(`${tp}: changed without a partition epoch bump`);
    }
  }
  return v;
}

/** Every image's own invariants plus the transition invariants between neighbours. */
export function checkImageSequence(images: readonly MetadataImage[]): string[] {
  const v: string[] = [];
  images.forEach((img, i) => {
    for (const x of checkImageInvariants(img)) v.push(`image ${i}: ${x}`);
    if (i > 0) for (const x of checkTransitionInvariants(images[i - 1], img)) v.push(`image ${i}: ${x}`);
  });
  return v;
}
