// checkHistory: every anomaly check over one shared model, and the verdict under the scenario's
// expectations.
import { scanConsumers } from "./consumer-anomalies.ts";
import {
  findDuplicates,
  findInconsistentOffsets,
  findLostWrites,
  findPhantoms,
  findUnseenWrites,
} from "./log-anomalies.ts";
import { DEFAULT_MAX_EVIDENCE, type HistoryInput, toModel } from "./model.ts";
import { findReorderedSends } from "./producer-anomalies.ts";
import { measureAvailability, measureLatency } from "./timing.ts";
import type { AnomalyClass, CheckerOptions, CheckerReport, Expectations } from "./types.ts";

/** Which expectation flag allows each class; malformed histories are never acceptable. */
const ALLOWED_BY: Record<AnomalyClass, keyof Expectations | null> = {
  lost: "allowLost",
  unseen: "allowUnseen",
  duplicated: "allowDuplicates",
  inconsistentOffsets: "allowInconsistentOffsets",
  nonmonotonic: "allowNonmonotonicPolls",
  skips: "allowPollSkips",
  reordered: "allowReordering",
  phantoms: "allowPhantoms",
  malformed: null,
};

export function checkHistory(input: HistoryInput, options: CheckerOptions = {}): CheckerReport {
  const model = toModel(input);
  const expectations = options.expectations ?? {};
  const max = options.maxEvidence ?? DEFAULT_MAX_EVIDENCE;
  const consumers = scanConsumers(model, options);
  const anomalies: CheckerReport["anomalies"] = {
    lost: findLostWrites(model, options),
    unseen: findUnseenWrites(model, options),
    duplicated: findDuplicates(model, options),
    inconsistentOffsets: findInconsistentOffsets(model, options),
    nonmonotonic: consumers.nonmonotonic,
    skips: consumers.skips,
    reordered: findReorderedSends(model, options),
    phantoms: findPhantoms(model, options),
    malformed: { count: model.malformed.length, items: model.malformed.slice(0, max) },
  };
  const availability = measureAvailability(model);
  const latency = measureLatency(model, options);

  const failures: CheckerReport["failures"] = [];
  for (const cls of Object.keys(ALLOWED_BY) as AnomalyClass[]) {
    const flag = ALLOWED_BY[cls];
    if (anomalies[cls].count > 0 && !(flag && expectations[flag])) failures.push(cls);
  }
  if (expectations.maxStallMs !== undefined && availability.longestStallMs > expectations.maxStallMs) {
    failures.push("availability");
  }

  return {
    valid: failures.length === 0,
    failures,
    counts: {
      sends: model.sends.length,
      acknowledged: availability.okSends,
      failedSends: availability.failedSends,
      indeterminateSends: availability.indeterminateSends,
      lost: anomalies.lost.count,
      unseen: anomalies.unseen.count,
      duplicated: anomalies.duplicated.count,
      inconsistentOffsets: anomalies.inconsistentOffsets.count,
      nonmonotonic: anomalies.nonmonotonic.count,
      skips: anomalies.skips.count,
      reordered: anomalies.reordered.count,
      phantoms: anomalies.phantoms.count,
      malformed: anomalies.malformed.count,
    },
    anomalies,
    availability,
    latency,
  };
}
