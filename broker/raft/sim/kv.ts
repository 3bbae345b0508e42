// The replicated state machine the simulator runs on top of the Raft core: a few registers, each holding
// the id of the last write applied to it, plus a hash chain over every applied entry so that two
// replicas at the same index can be compared in O(1). Snapshots serialise all of it, padded with the
// recent write history so that snapshot transfers span several chunks.
import type { Entry } from "../types.ts";

export const KEYS = 3;
const HISTORY = 48;

/** A write is encoded as 5 bytes: the key, then the write id (uint32, big-endian). */
export function encodeWrite(key: number, id: number): Uint8Array {
  const b = new Uint8Array(5);
  b[0] = key;
  b[1] = id >>> 24;
  b[2] = (id >>> 16) & 0xff;
  b[3] = (id >>> 8) & 0xff;
  b[4] = id & 0xff;
  return b;
}

export function decodeWrite(data: Uint8Array): { key: number; id: number } | null {
  if (data.length !== 5) return null;
  return { key: data[0], id: ((data[1] << 24) | (data[2] << 16) | (data[3] << 8) | data[4]) >>> 0 };
}

/** A number identifying an entry's content (term + payload) for cross-node comparison. */
export function entryIdentity(e: Entry): number {
  let payload = 0;
  if (e.change)
    payload = 0xffff_fff0 + ["bootstrap", "addLearner", "promote", "remove"].indexOf(e.change.type);
  else {
    const w = decodeWrite(e.data);
    if (w) payload = w.id;
  }
  return e.term * 0x1_0000_0000 + payload;
}

export function mixHash(h: number, x: number): number {
  h = Math.imul(h ^ (x >>> 0), 0x01000193);
  h = Math.imul(h ^ Math.floor(x / 0x1_0000_0000), 0x01000193);
  return h >>> 0;
}

export class KvStore {
  applied = 0;
  chain = 0x811c9dc5;
  values = new Array<number>(KEYS).fill(0);
  /** Log index of the write each register holds (0 = never written). */
  writeIndex = new Array<number>(KEYS).fill(0);
  history: number[] = [];

  apply(e: Entry): { id: number } | null {
    if (e.index !== this.applied + 1) throw new Error(`apply gap: at ${this.applied}, got ${e.index}`);
    this.applied = e.index;
    this.chain = mixHash(mixHash(this.chain, e.index), entryIdentity(e));
    if (e.change) return null;
    const w = decodeWrite(e.data);
    if (!w) return null;
    this.values[w.key] = w.id;
    this.writeIndex[w.key] = e.index;
    this.history.push(w.id);
    if (this.history.length > HISTORY) this.history.shift();
    return w;
  }

  snapshot(): Uint8Array {
    const words = [
      this.applied,
      this.chain,
      ...this.values,
      ...this.writeIndex,
      this.history.length,
      ...this.history,
    ];
    const out = new Uint8Array(words.length * 4);
    const view = new DataView(out.buffer);
    for (let i = 0; i < words.length; i++) view.setUint32(i * 4, words[i] >>> 0);
    return out;
  }

  static restore(data: Uint8Array): KvStore {
    const kv = new KvStore();
    if (data.length === 0) return kv;
    const view = new DataView(data.buffer, data.byteOffset, data.byteLength);
    let i = 0;
    const next = () => view.getUint32(4 * i++);
    kv.applied = next();
    kv.chain = next();
    for (let k = 0; k < KEYS; k++) kv.values[k] = next();
    for (let k = 0; k < KEYS; k++) kv.writeIndex[k] = next();
    const n = next();
    for (let k = 0; k < n; k++) kv.history.push(next());
    return kv;
  }
}
