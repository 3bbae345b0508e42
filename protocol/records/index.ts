/**
 * Records: RecordBatch v2, legacy message sets (magic 0/1), control records and compression.
 *
 * - encodeRecordBatch / decodeRecordBatch: one v2 batch.
 * - decodeRecords: every record of a records field (mixed v2 and legacy), with absolute offsets.
 * - batch-header.ts: in-place header access for the broker's storage path (no record decoding).
 */

import { ProtocolError } from "../wire/errors.ts";
import { BATCH_HEADER_SIZE, MAGIC_OFFSET, splitBatches } from "./batch-header.ts";
import { decodeLegacyEntry } from "./legacy.ts";
import { decodeRecordBatch, RECORD_BATCH_MAGIC, recordSequence } from "./record-batch.ts";
import type { DecodeOptions, LogRecord } from "./types.ts";

export {
  BATCH_HEADER_SIZE,
  type BatchHeader,
  type BatchSpan,
  compressionCodec,
  computeBatchCrc,
  isControl,
  isLogAppendTime,
  isTransactional,
  LOG_OVERHEAD,
  lastOffset,
  makeAttributes,
  nextOffset,
  readBatchHeader,
  readLastOffset,
  readMagic,
  setBaseOffset,
  setMaxTimestampAndTimestampType,
  setPartitionLeaderEpoch,
  splitBatches,
  timestampType,
  verifyBatchCrc,
} from "./batch-header.ts";
export {
  Compression,
  type CompressionName,
  compress,
  compressionFromName,
  compressionName,
  DEFAULT_MAX_DECOMPRESSED_SIZE,
  decompress,
} from "./compression.ts";
export { decodeControlRecord, encodeControlKey, encodeEndTxnMarkerValue } from "./control.ts";
export {
  type DecodedLegacyEntry,
  decodeLegacyEntry,
  type EncodeLegacyOptions,
  encodeLegacyMessageSet,
  type LegacyMessageInput,
} from "./legacy.ts";
export {
  type DecodedRecord,
  type DecodedRecordBatch,
  decodeRecordBatch,
  type EncodeRecordBatchOptions,
  type EndTxnMarkerOptions,
  encodeEndTxnMarker,
  encodeRecordBatch,
  RECORD_BATCH_MAGIC,
  type RecordHeaderInput,
  type RecordInput,
  recordSequence,
} from "./record-batch.ts";
export type {
  ControlRecord,
  ControlRecordType,
  DecodeOptions,
  LogRecord,
  RecordHeader,
  TimestampType,
} from "./types.ts";

/**
 * Decodes every log entry of a records field (as in Produce requests and Fetch responses) into a
 * flat list of records with absolute offsets. v2 batches and legacy messages may be mixed. A
 * trailing partial entry is ignored, as Kafka's clients do with a fetch cut at max bytes. Control
 * records are included (flagged isControl) so callers decide whether to hide them.
 */
export function decodeRecords(recordsField: Buffer, opts: DecodeOptions = {}): LogRecord[] {
  const out: LogRecord[] = [];
  for (const span of splitBatches(recordsField)) {
    const magic = recordsField.readInt8(span.offset + MAGIC_OFFSET);
    if (magic === RECORD_BATCH_MAGIC) {
      if (span.length < BATCH_HEADER_SIZE) {
        throw new ProtocolError(
          "CORRUPT_RECORD",
          `v2 batch of ${span.length} bytes is shorter than its header`,
          {
            offset: span.offset,
          },
        );
      }
      const batch = decodeRecordBatch(recordsField, span.offset, opts);
      const h = batch.header;
      const batchLastOffset = h.baseOffset + BigInt(h.lastOffsetDelta);
      for (const r of batch.records) {
        const record: LogRecord = {
          offset: r.offset,
          timestamp: r.timestamp,
          timestampType: batch.timestampType,
          key: r.key,
          value: r.value,
          headers: r.headers,
          magic,
          batchBaseOffset: h.baseOffset,
          batchLastOffset,
          partitionLeaderEpoch: h.partitionLeaderEpoch,
          producerId: h.producerId,
          producerEpoch: h.producerEpoch,
          sequence: recordSequence(h.baseSequence, r.offsetDelta),
          isTransactional: batch.isTransactional,
          isControl: batch.isControl,
        };
        if (batch.control) record.control = batch.control;
        out.push(record);
      }
    } else if (magic === 0 || magic === 1) {
      for (const r of decodeLegacyEntry(recordsField, span.offset, opts).records) out.push(r);
    } else {
      throw new ProtocolError("CORRUPT_RECORD", `unknown magic ${magic} in records`, { offset: span.offset });
    }
  }
  return out;
}
