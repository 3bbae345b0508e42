/**
 * Serialisation of GroupRecords for the file store: one JSON object per record, Buffers as base64 and
 * bigints as decimal strings. Small and debuggable; the record set is tiny next to the data log.
 */
import type { GroupMemberValue, GroupMetadataValue, GroupRecord, OffsetValue } from "./types.ts";

interface OffsetJson {
  offset: string;
  leaderEpoch: number;
  metadata: string;
  commitTimestamp: number;
  expireTimestamp: number;
}

interface MemberJson extends Omit<GroupMemberValue, "subscription" | "assignment"> {
  subscription: string;
  assignment: string;
}

interface GroupJson extends Omit<GroupMetadataValue, "members"> {
  members: MemberJson[];
}

type RecordJson =
  | { t: "o"; g: string; topic: string; p: number; v: OffsetJson | null }
  | { t: "g"; g: string; v: GroupJson | null };

export class RecordFormatError extends Error {
  override name = "RecordFormatError";
}

export function encodeRecord(r: GroupRecord): Buffer {
  let json: RecordJson;
  if (r.type === "offset") {
    const v = r.value;
    json = {
      t: "o",
      g: r.groupId,
      topic: r.topic,
      p: r.partition,
      v: v === null ? null : { ...v, offset: v.offset.toString() },
    };
  } else {
    const v = r.value;
    json = {
      t: "g",
      g: r.groupId,
      v:
        v === null
          ? null
          : {
              ...v,
              members: v.members.map((m) => ({
                ...m,
                subscription: m.subscription.toString("base64"),
                assignment: m.assignment.toString("base64"),
              })),
            },
    };
  }
  return Buffer.from(JSON.stringify(json), "utf8");
}

export function decodeRecord(buf: Buffer): GroupRecord {
  let json: RecordJson;
  try {
    json = JSON.parse(buf.toString("utf8")) as RecordJson;
  } catch (e) {
    throw new RecordFormatError(`record is not JSON: ${(e as Error).message}`);
  }
  if (json === null || typeof json !== "object" || typeof json.g !== "string") {
    throw new RecordFormatError("record lacks a group id");
  }
  if (json.t === "o") {
    const v = json.v;
    const value: OffsetValue | null = v === null ? null : { ...v, offset: BigInt(v.offset) };
    return { type: "offset", groupId: json.g, topic: json.topic, partition: json.p, value };
  }
  if (json.t === "g") {
    const v = json.v;
    const value: GroupMetadataValue | null =
      v === null
        ? null
        : {
            ...v,
            members: v.members.map((m) => ({
              ...m,
              subscription: Buffer.from(m.subscription, "base64"),
              assignment: Buffer.from(m.assignment, "base64"),
            })),
          };
    return { type: "group", groupId: json.g, value };
  }
  throw new RecordFormatError(`unknown record type ${String((json as { t: unknown }).t)}`);
}
