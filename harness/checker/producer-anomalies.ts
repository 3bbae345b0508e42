// Ordering of acknowledged sends: a send invoked after another was acknowledged must land after it.
import {
  type AckedSend,
  Collector,
  DEFAULT_MAX_EVIDENCE,
  type HistoryInput,
  partitionKey,
  toModel,
} from "./model.ts";
import type { AnomalyList, CheckerOptions, ReorderedSend, SendRef } from "./types.ts";

/** Acks of one producer in one partition, in completion order, with a running maximum of offsets. */
interface AckChain {
  completionPos: number[];
  maxOffset: number[];
  maxSend: AckedSend[];
}

const ref = (s: AckedSend): SendRef => ({
  process: s.process,
  value: s.value,
  offset: s.offset,
  invokeIndex: s.invoke.index,
  okIndex: s.completion!.index,
});

/**
 * Reordered: for two acknowledged sends A and B by one producer to one partition, where B was invoked
 * after A's ok completion, offset(B) must exceed offset(A). Kafka guarantees this for any producer
 * (an acknowledged record is in the log before the next send even starts); idempotent producers with
 * max.in.flight <= 5 promise more, which this deliberately does not assume. For each B the check uses
 * the highest offset among sends acknowledged before B's invoke, found by binary search.
 */
export function findReorderedSends(
  input: HistoryInput,
  options: CheckerOptions = {},
): AnomalyList<ReorderedSend> {
  const model = toModel(input);
  const out = new Collector<ReorderedSend>(options.maxEvidence ?? DEFAULT_MAX_EVIDENCE);
  const byPartitionScope = options.reorderScope === "partition";
  const acked = [...model.acknowledged()].sort((a, b) => a.completionPos - b.completionPos);
  const chains = new Map<string, AckChain>();
  for (const send of acked) {
    const producer = byPartitionScope ? "*" : send.producer;
    const key = `${producer}\u0000${partitionKey(send.topic, send.partition)}`;
    let chain = chains.get(key);
    if (!chain) {
      chain = { completionPos: [], maxOffset: [], maxSend: [] };
      chains.set(key, chain);
    }
    // Last ack that completed before this send was invoked.
    let lo = 0;
    let hi = chain.completionPos.length;
    while (lo < hi) {
      const mid = (lo + hi) >>> 1;
      if (chain.completionPos[mid] < send.invokePos) lo = mid + 1;
      else hi = mid;
    }
    if (lo > 0 && chain.maxOffset[lo - 1] >= send.offset) {
      out.add({
        producer,
        topic: send.topic,
        partition: send.partition,
        earlier: ref(chain.maxSend[lo - 1]),
        later: ref(send),
      });
    }
    const n = chain.maxOffset.length;
    const keepPrevious = n > 0 && chain.maxOffset[n - 1] >= send.offset;
    chain.completionPos.push(send.completionPos);
    chain.maxOffset.push(keepPrevious ? chain.maxOffset[n - 1] : send.offset);
    chain.maxSend.push(keepPrevious ? chain.maxSend[n - 1] : send);
  }
  return out.result();
}
