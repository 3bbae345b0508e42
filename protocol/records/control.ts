/**
 * Control records: the single record inside a control batch. Transaction markers (ABORT/COMMIT)
 * have key = [version int16][type int16] and value = [version int16][coordinatorEpoch int32];
 * KRaft uses further types (LEADER_CHANGE, SNAPSHOT_*) whose values we leave undecoded.
 */
import { ProtocolError } from "../wire/errors.ts";
import type { ControlRecord, ControlRecordType } from "./types.ts";

const CONTROL_TYPES: readonly ControlRecordType[] = [
  "ABORT",
  "COMMIT",
  "LEADER_CHANGE",
  "SNAPSHOT_HEADER",
  "SNAPSHOT_FOOTER",
];

export const CONTROL_KEY_SIZE = 4;
export const END_TXN_MARKER_VALUE_SIZE = 6;

export function controlTypeId(type: ControlRecordType): number {
  return CONTROL_TYPES.indexOf(type);
}

export function encodeControlKey(type: ControlRecordType | number, version = 0): Buffer {
  const key = Buffer.allocUnsafe(CONTROL_KEY_SIZE);
  key.writeInt16BE(version, 0);
  key.writeInt16BE(typeof type === "number" ? type : controlTypeId(type), 2);
  return key;
}

export function encodeEndTxnMarkerValue(coordinatorEpoch: number, version = 0): Buffer {
  const value = Buffer.allocUnsafe(END_TXN_MARKER_VALUE_SIZE);
  value.writeInt16BE(version, 0);
  value.writeInt32BE(coordinatorEpoch, 2);
  return value;
}

/**
 * Decodes a control record. Like Kafka, a key shorter than 4 bytes is corrupt, a negative key
 * version is rejected, and newer versions are read by their version-0 prefix.
 */
export function decodeControlRecord(key: Buffer | null, value: Buffer | null): ControlRecord {
  if (key === null || key.length < CONTROL_KEY_SIZE) {
    throw new ProtocolError("CORRUPT_RECORD", `control record key must have ${CONTROL_KEY_SIZE}+ bytes`);
  }
  const version = key.readInt16BE(0);
  if (version < 0) throw new ProtocolError("CORRUPT_RECORD", `invalid control record key version ${version}`);
  const typeId = key.readInt16BE(2);
  const control: ControlRecord = { version, typeId, type: CONTROL_TYPES[typeId] ?? "UNKNOWN" };
  if (typeId === 0 || typeId === 1) {
    if (value === null || value.length < END_TXN_MARKER_VALUE_SIZE) {
      throw new ProtocolError(
        "CORRUPT_RECORD",
        `transaction marker value must have ${END_TXN_MARKER_VALUE_SIZE}+ bytes`,
      );
    }
    control.coordinatorEpoch = value.readInt32BE(2);
  }
  return control;
}
