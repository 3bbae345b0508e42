/**
 * Kafka's `__consumer_offsets` record format for GroupRecords (the classic-protocol record types of
 * Apache Kafka's group coordinator), so a partition written by this broker reads like Kafka's:
 *
 *   key   = int16 version | fields                      value = int16 version | fields (null = tombstone)
 *
 * - OffsetCommitKey, key version 1: group string, topic string, partition int32.
 *   OffsetCommitValue version 3: offset int64, leaderEpoch int32, metadata string, commitTimestamp int64;
 *   version 1 (written only when the commit carried a retention time, as Kafka does): offset int64,
 *   metadata string, commitTimestamp int64, expireTimestamp int64. Versions 0 and 2 are read too.
 * - GroupMetadataKey, key version 2: group string.
 *   GroupMetadataValue version 3: protocolType string, generation int32, protocol nullable string,
 *   leader nullable string, currentStateTimestamp int64, members [memberId string, groupInstanceId
 *   nullable string, clientId string, clientHost string, rebalanceTimeout int32, sessionTimeout int32,
 *   subscription bytes, assignment bytes]. Versions 0-2 are read too.
 *
 * Strings are int16 length + UTF-8 (-1 = null), bytes int32 length + data, arrays int32 count. Keys
 * of other versions (Kafka's KIP-848 and share-group records, transaction markers) are not group
 * records of this coordinator: `decodeOffsetsRecord` returns undefined for them.
 */
import { Reader } from "../../protocol/wire/reader.ts";
import { Writer } from "../../protocol/wire/writer.ts";
import type { GroupMemberValue, GroupMetadataValue, GroupRecord, OffsetValue } from "./types.ts";

export const OFFSET_COMMIT_KEY_VERSION = 1;
export const GROUP_METADATA_KEY_VERSION = 2;
const OFFSET_VALUE_VERSION = 3;
const OFFSET_VALUE_VERSION_WITH_EXPIRY = 1;
const GROUP_VALUE_VERSION = 3;

export class OffsetsRecordFormatError extends Error {
  override name = "OffsetsRecordFormatError";
}

/** The key and value (null for a tombstone) of one `__consumer_offsets` record. */
export interface KeyValue {
  key: Buffer;
  value: Buffer | null;
}

export function encodeOffsetsRecord(r: GroupRecord): KeyValue {
  const key = new Writer(64);
  if (r.type === "offset") {
    key.int16(OFFSET_COMMIT_KEY_VERSION).string(r.groupId).string(r.topic).int32(r.partition);
    return { key: Buffer.from(key.finish()), value: r.value === null ? null : encodeOffsetValue(r.value) };
  }
  key.int16(GROUP_METADATA_KEY_VERSION).string(r.groupId);
  return { key: Buffer.from(key.finish()), value: r.value === null ? null : encodeGroupValue(r.value) };
}

function encodeOffsetValue(v: OffsetValue): Buffer {
  const w = new Writer(64);
  if (v.expireTimestamp >= 0) {
    w.int16(OFFSET_VALUE_VERSION_WITH_EXPIRY)
      .int64(v.offset)
      .string(v.metadata)
      .int64(BigInt(v.commitTimestamp))
      .int64(BigInt(v.expireTimestamp));
  } else {
    w.int16(OFFSET_VALUE_VERSION)
      .int64(v.offset)
      .int32(v.leaderEpoch)
      .string(v.metadata)
      .int64(BigInt(v.commitTimestamp));
  }
  return Buffer.from(w.finish());
}

function encodeGroupValue(v: GroupMetadataValue): Buffer {
  const w = new Writer(256);
  w.int16(GROUP_VALUE_VERSION)
    .string(v.protocolType)
    .int32(v.generation)
    .nullableString(v.protocol)
    .nullableString(v.leader)
    .int64(BigInt(v.currentStateTimestamp))
    .int32(v.members.length);
  for (const m of v.members) {
    w.string(m.memberId)
      .nullableString(m.groupInstanceId)
      .string(m.clientId)
      .string(m.clientHost)
      .int32(m.rebalanceTimeoutMs)
      .int32(m.sessionTimeoutMs)
      .bytesField(m.subscription)
      .bytesField(m.assignment);
  }
  return Buffer.from(w.finish());
}

/**
 * Decodes one record; undefined when its key is not a classic group record (another record type).
 * Throws OffsetsRecordFormatError on a malformed record of a known type.
 */
export function decodeOffsetsRecord(key: Buffer | null, value: Buffer | null): GroupRecord | undefined {
  if (key === null || key.length < 2) return undefined;
  try {
    const r = new Reader(key);
    const version = r.int16();
    if (version === 0 || version === 1) {
      const groupId = r.string();
      const topic = r.string();
      const partition = r.int32();
      return {
        type: "offset",
        groupId,
        topic,
        partition,
        value: value === null ? null : decodeOffsetValue(value),
      };
    }
    if (version === 2) {
      const groupId = r.string();
      return { type: "group", groupId, value: value === null ? null : decodeGroupValue(value) };
    }
    return undefined;
  } catch (e) {
    if (e instanceof OffsetsRecordFormatError) throw e;
    throw new OffsetsRecordFormatError(`malformed __consumer_offsets record: ${(e as Error).message}`);
  }
}

function decodeOffsetValue(buf: Buffer): OffsetValue {
  const r = new Reader(buf);
  const version = r.int16();
  if (version < 0 || version > 3) {
    throw new OffsetsRecordFormatError(`unsupported OffsetCommitValue version ${version}`);
  }
  const offset = r.int64();
  const leaderEpoch = version >= 3 ? r.int32() : -1;
  const metadata = r.string();
  const commitTimestamp = Number(r.int64());
  const expireTimestamp = version === 1 ? Number(r.int64()) : -1;
  return { offset, leaderEpoch, metadata, commitTimestamp, expireTimestamp };
}

function decodeGroupValue(buf: Buffer): GroupMetadataValue {
  const r = new Reader(buf);
  const version = r.int16();
  if (version < 0 || version > 3) {
    throw new OffsetsRecordFormatError(`unsupported GroupMetadataValue version ${version}`);
  }
  const protocolType = r.string();
  const generation = r.int32();
  const protocol = r.nullableString();
  const leader = r.nullableString();
  const currentStateTimestamp = version >= 2 ? Number(r.int64()) : -1;
  const count = r.int32();
  if (count < 0 || count > r.remaining()) {
    throw new OffsetsRecordFormatError(`GroupMetadataValue has an invalid member count ${count}`);
  }
  const members: GroupMemberValue[] = [];
  for (let i = 0; i < count; i++) {
    const memberId = r.string();
    const groupInstanceId = version >= 3 ? r.nullableString() : null;
    const clientId = r.string();
    const clientHost = r.string();
    const rebalanceTimeout = version >= 1 ? r.int32() : -1;
    const sessionTimeoutMs = r.int32();
    const subscription = Buffer.from(r.bytesField());
    const assignment = Buffer.from(r.bytesField());
    members.push({
      memberId,
      groupInstanceId,
      clientId,
      clientHost,
      // Version 0 had no rebalance timeout: Kafka uses the session timeout.
      rebalanceTimeoutMs: rebalanceTimeout >= 0 ? rebalanceTimeout : sessionTimeoutMs,
      sessionTimeoutMs,
      subscription,
      assignment,
    });
  }
  return { protocolType, generation, protocol, leader, currentStateTimestamp, members };
}
