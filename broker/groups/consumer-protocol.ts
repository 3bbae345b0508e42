/**
 * A small reader (and writer, for tests and tools) of the consumer protocol's subscription: the
 * metadata a Kafka consumer puts in JoinGroup under protocol type "consumer".
 *
 * Layout (ConsumerProtocolSubscription, never flexible): int16 version, then the v0 fields
 * topics: int32 count of int16-length strings, userData: int32-length nullable bytes; v1 adds
 * ownedPartitions, v2 generationId, v3 rackId. Every version starts with the v0 fields, so the coordinator
 * reads only the version and the topics, as Kafka does, and accepts versions newer than it knows.
 */

export const CONSUMER_PROTOCOL_TYPE = "consumer";

export class ConsumerProtocolError extends Error {
  override name = "ConsumerProtocolError";
}

export interface ConsumerSubscription {
  version: number;
  topics: string[];
  userData: Buffer | null;
}

/** Decodes the version and the v0 prefix of a subscription. Throws ConsumerProtocolError when malformed. */
export function decodeSubscription(buf: Buffer): ConsumerSubscription {
  let pos = 0;
  const need = (n: number): void => {
    if (pos + n > buf.length) {
      throw new ConsumerProtocolError(
        `subscription truncated at byte ${pos} (need ${n} of ${buf.length - pos})`,
      );
    }
  };
  need(2);
  const version = buf.readInt16BE(pos);
  pos += 2;
  if (version < 0) throw new ConsumerProtocolError(`unsupported subscription version ${version}`);
  need(4);
  const count = buf.readInt32BE(pos);
  pos += 4;
  if (count < 0) throw new ConsumerProtocolError(`negative topic count ${count}`);
  // Each topic takes at least 2 bytes, so a hostile count cannot make us loop far past the buffer.
  need(count * 2);
  const topics: string[] = [];
  for (let i = 0; i < count; i++) {
    need(2);
    const len = buf.readInt16BE(pos);
    pos += 2;
    if (len < 0) throw new ConsumerProtocolError(`null topic name at index ${i}`);
    need(len);
    topics.push(buf.toString("utf8", pos, pos + len));
    pos += len;
  }
  need(4);
  const userLen = buf.readInt32BE(pos);
  pos += 4;
  let userData: Buffer | null = null;
  if (userLen >= 0) {
    need(userLen);
    userData = buf.subarray(pos, pos + userLen);
  }
  return { version, topics, userData };
}

/** The subscribed topics, or undefined when the metadata is not a readable subscription. */
export function subscribedTopicsOf(metadata: Buffer): string[] | undefined {
  try {
    return decodeSubscription(metadata).topics;
  } catch (e) {
    if (e instanceof ConsumerProtocolError) return undefined;
    throw e;
  }
}

export interface SubscriptionToEncode {
  topics: string[];
  userData?: Buffer | null;
  /** v1+ */
  ownedPartitions?: { topic: string; partitions: number[] }[];
  /** v2+ */
  generationId?: number;
  /** v3+ */
  rackId?: string | null;
}

/** Encodes a subscription at `version` (0-3). */
export function encodeSubscription(s: SubscriptionToEncode, version = 0): Buffer {
  const parts: Buffer[] = [];
  const i16 = (v: number) => {
    const b = Buffer.alloc(2);
    b.writeInt16BE(v);
    parts.push(b);
  };
  const i32 = (v: number) => {
    const b = Buffer.alloc(4);
    b.writeInt32BE(v);
    parts.push(b);
  };
  const str = (v: string | null) => {
    if (v === null) return i16(-1);
    const b = Buffer.from(v, "utf8");
    i16(b.length);
    parts.push(b);
  };
  i16(version);
  i32(s.topics.length);
  for (const t of s.topics) str(t);
  const ud = s.userData ?? null;
  if (ud === null) i32(-1);
  else {
    i32(ud.length);
    parts.push(ud);
  }
  if (version >= 1) {
    const owned = s.ownedPartitions ?? [];
    i32(owned.length);
    for (const o of owned) {
      str(o.topic);
      i32(o.partitions.length);
      for (const p of o.partitions) i32(p);
    }
  }
  if (version >= 2) i32(s.generationId ?? -1);
  if (version >= 3) str(s.rackId ?? null);
  return Buffer.concat(parts);
}
