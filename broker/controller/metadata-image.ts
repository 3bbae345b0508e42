/**
 * The cluster metadata image: what every node knows after applying the committed metadata log (KRaft's
 * MetadataImage). Pure and deterministic: `applyRecords(image, records, offset)` returns a new image and
 * never mutates its input (unchanged parts are shared between images). The same records applied to equal
 * images give equal images on every node; a snapshot is the list of records that recreates an image.
 *
 * Records use Kafka's metadata record framing (MetadataRecordSerde): unsigned varint frame version (1),
 * unsigned varint record type (the spec's apiKey), unsigned varint record version, then the body.
 */
import {
  type BrokerRegistrationChangeRecord,
  type ConfigRecord,
  type FeatureLevelRecord,
  type FenceBrokerRecord,
  metadataRecordTypes,
  type NoOpRecord,
  type PartitionChangeRecord,
  type PartitionRecord,
  type ProducerIdsRecord,
  type RegisterBrokerRecord,
  type RemoveTopicRecord,
  type TopicRecord,
  type UnfenceBrokerRecord,
  type UnregisterBrokerRecord,
} from "../../protocol/generated/metadata/index.ts";
import { ProtocolError } from "../../protocol/wire/errors.ts";
import { Reader } from "../../protocol/wire/reader.ts";
import { Writer } from "../../protocol/wire/writer.ts";

// ---- records ---------------------------------------------------------------------------------------

/** The record types the image models, by their spec name, with the spec's type id (apiKey). */
export const RECORD_TYPE_IDS = {
  RegisterBrokerRecord: 0,
  UnregisterBrokerRecord: 1,
  TopicRecord: 2,
  PartitionRecord: 3,
  ConfigRecord: 4,
  PartitionChangeRecord: 5,
  FenceBrokerRecord: 7,
  UnfenceBrokerRecord: 8,
  RemoveTopicRecord: 9,
  FeatureLevelRecord: 12,
  ProducerIdsRecord: 15,
  BrokerRegistrationChangeRecord: 17,
  NoOpRecord: 20,
} as const;

interface ModeledRecords {
  RegisterBrokerRecord: RegisterBrokerRecord;
  UnregisterBrokerRecord: UnregisterBrokerRecord;
  TopicRecord: TopicRecord;
  PartitionRecord: PartitionRecord;
  ConfigRecord: ConfigRecord;
  PartitionChangeRecord: PartitionChangeRecord;
  FenceBrokerRecord: FenceBrokerRecord;
  UnfenceBrokerRecord: UnfenceBrokerRecord;
  RemoveTopicRecord: RemoveTopicRecord;
  FeatureLevelRecord: FeatureLevelRecord;
  ProducerIdsRecord: ProducerIdsRecord;
  BrokerRegistrationChangeRecord: BrokerRegistrationChangeRecord;
  NoOpRecord: NoOpRecord;
}

export type ModeledRecordType = keyof ModeledRecords;

/** A metadata record the image understands, or (`Unmodeled`) another valid type it carries but ignores. */
export type MetadataRecord =
  | { [K in ModeledRecordType]: { type: K; data: ModeledRecords[K] } }[ModeledRecordType]
  | { type: "Unmodeled"; typeId: number; version: number; data: unknown };

/**
 * The version each modeled record is written at. Chosen so that every field the image keeps is present
 * and none of the fields it does not model (log directories, ELR) is required.
 */
export const RECORD_WRITE_VERSIONS: Readonly<Record<ModeledRecordType, number>> = {
  RegisterBrokerRecord: 1,
  UnregisterBrokerRecord: 0,
  TopicRecord: 0,
  PartitionRecord: 0,
  ConfigRecord: 0,
  PartitionChangeRecord: 0,
  FenceBrokerRecord: 0,
  UnfenceBrokerRecord: 0,
  RemoveTopicRecord: 0,
  FeatureLevelRecord: 0,
  ProducerIdsRecord: 0,
  BrokerRegistrationChangeRecord: 1,
  NoOpRecord: 0,
};

const FRAME_VERSION = 1;
const NAMES_BY_ID = new Map<number, ModeledRecordType>(
  Object.entries(RECORD_TYPE_IDS).map(([name, id]) => [id, name as ModeledRecordType]),
);

function writeRecordFrame(w: Writer, record: MetadataRecord): void {
  const typeId = record.type === "Unmodeled" ? record.typeId : RECORD_TYPE_IDS[record.type];
  const version = record.type === "Unmodeled" ? record.version : RECORD_WRITE_VERSIONS[record.type];
  const spec = metadataRecordTypes.get(typeId);
  if (!spec) throw new ProtocolError("UNKNOWN_API_KEY", `unknown metadata record type ${typeId}`);
  w.uvarint(FRAME_VERSION);
  w.uvarint(typeId);
  w.uvarint(version);
  spec.encode(w, record.data as never, version);
}

function readRecordFrame(r: Reader): MetadataRecord {
  const frame = r.uvarint();
  if (frame !== FRAME_VERSION) r.fail("INVALID_VALUE", `unsupported metadata record frame version ${frame}`);
  const typeId = r.uvarint();
  const version = r.uvarint();
  const spec = metadataRecordTypes.get(typeId);
  if (!spec) r.fail("UNKNOWN_API_KEY", `unknown metadata record type ${typeId}`);
  const data = spec.decode(r, version);
  const name = NAMES_BY_ID.get(typeId);
  if (name === undefined) return { type: "Unmodeled", typeId, version, data };
  return { type: name, data } as MetadataRecord;
}

/** One record in Kafka's metadata record framing. */
export function encodeMetadataRecord(record: MetadataRecord): Buffer {
  const w = new Writer(128);
  writeRecordFrame(w, record);
  return Buffer.from(w.finish());
}

/** Decodes one framed record; throws ProtocolError on malformed input or trailing bytes. */
export function decodeMetadataRecord(bytes: Uint8Array): MetadataRecord {
  const r = new Reader(toBuffer(bytes));
  const record = readRecordFrame(r);
  if (r.remaining() !== 0) r.fail("INVALID_VALUE", `${r.remaining()} trailing bytes after a metadata record`);
  return record;
}

/**
 * A batch of records applied atomically, as carried in one Raft entry: uvarint count, then per record
 * uvarint size and the framed record.
 */
export function encodeMetadataBatch(records: readonly MetadataRecord[]): Buffer {
  const w = new Writer(256);
  writeRecordList(w, records);
  return Buffer.from(w.finish());
}

export function decodeMetadataBatch(bytes: Uint8Array): MetadataRecord[] {
  const r = new Reader(toBuffer(bytes));
  const records = readRecordList(r);
  if (r.remaining() !== 0) r.fail("INVALID_VALUE", `${r.remaining()} trailing bytes after a metadata batch`);
  return records;
}

function writeRecordList(w: Writer, records: readonly MetadataRecord[]): void {
  w.uvarint(records.length);
  for (const rec of records) {
    const body = encodeMetadataRecord(rec);
    w.uvarint(body.length);
    w.raw(body);
  }
}

function readRecordList(r: Reader): MetadataRecord[] {
  const start = r.offset;
  const count = r.checkCount(r.uvarint(), 2, start);
  const out: MetadataRecord[] = [];
  for (let i = 0; i < count; i++) {
    const size = r.uvarint();
    const sub = r.sub(size);
    const rec = readRecordFrame(sub);
    if (sub.remaining() !== 0) sub.fail("INVALID_VALUE", "trailing bytes inside a framed metadata record");
    out.push(rec);
  }
  return out;
}

function toBuffer(bytes: Uint8Array): Buffer {
  return Buffer.isBuffer(bytes) ? bytes : Buffer.from(bytes.buffer, bytes.byteOffset, bytes.byteLength);
}

// ---- the image ---------------------------------------------------------------------------------------

/** Kafka's "no leader" (-1) and PartitionChangeRecord's "leader unchanged" (-2). */
export const NO_LEADER = -1;
export const NO_LEADER_CHANGE = -2;
/** LeaderRecoveryState: RECOVERED 0, RECOVERING 1 (after an unclean election). */
export const RECOVERED = 0;
export const RECOVERING = 1;
/** ConfigResource types. */
export const RESOURCE_TOPIC = 2;
export const RESOURCE_BROKER = 4;

export interface BrokerEndpointInfo {
  readonly host: string;
  readonly port: number;
  readonly securityProtocol: number;
}

export interface BrokerImage {
  readonly id: number;
  /** The broker epoch given at registration (strictly increasing per broker). */
  readonly epoch: bigint;
  readonly incarnationId: string;
  /** Listener name → endpoint, in registration order. */
  readonly endpoints: ReadonlyMap<string, BrokerEndpointInfo>;
  readonly features: ReadonlyMap<string, { readonly min: number; readonly max: number }>;
  readonly rack: string | null;
  readonly fenced: boolean;
  readonly inControlledShutdown: boolean;
}

export interface PartitionImage {
  readonly partition: number;
  readonly replicas: readonly number[];
  readonly isr: readonly number[];
  readonly removingReplicas: readonly number[];
  readonly addingReplicas: readonly number[];
  /** A broker id or NO_LEADER (-1). */
  readonly leader: number;
  readonly leaderRecoveryState: number;
  readonly leaderEpoch: number;
  readonly partitionEpoch: number;
}

export interface TopicImage {
  readonly name: string;
  readonly id: string;
  readonly partitions: ReadonlyMap<number, PartitionImage>;
}

export interface MetadataImage {
  readonly clusterId: string;
  /** The offset (Raft index) of the last batch applied; -1 for an empty image. */
  readonly highestOffset: number;
  readonly brokers: ReadonlyMap<number, BrokerImage>;
  /** Topics by id. */
  readonly topics: ReadonlyMap<string, TopicImage>;
  /** Topic name → id. */
  readonly topicIds: ReadonlyMap<string, string>;
  /** Config overrides by resource key (`configKey(type, name)`), name → value. */
  readonly configs: ReadonlyMap<string, ReadonlyMap<string, string>>;
  readonly features: ReadonlyMap<string, number>;
  /** Producer ids below this have been handed out in blocks. */
  readonly nextProducerId: bigint;
  /** The broker (id, epoch) the last block went to; -1 before any. */
  readonly lastProducerIdBroker: { readonly id: number; readonly epoch: bigint };
}

export function emptyImage(clusterId: string): MetadataImage {
  return {
    clusterId,
    highestOffset: -1,
    brokers: new Map(),
    topics: new Map(),
    topicIds: new Map(),
    configs: new Map(),
    features: new Map(),
    nextProducerId: 0n,
    lastProducerIdBroker: { id: -1, epoch: -1n },
  };
}

export function configKey(resourceType: number, resourceName: string): string {
  return `${resourceType}:${resourceName}`;
}

export function topicByName(image: MetadataImage, name: string): TopicImage | undefined {
  const id = image.topicIds.get(name);
  return id === undefined ? undefined : image.topics.get(id);
}

export function topicConfigs(image: MetadataImage, name: string): ReadonlyMap<string, string> {
  return image.configs.get(configKey(RESOURCE_TOPIC, name)) ?? new Map();
}

/** "host:port" of a broker's listener, or undefined. */
export function endpointAddress(broker: BrokerImage, listener: string): string | undefined {
  const e = broker.endpoints.get(listener);
  return e === undefined ? undefined : `${e.host}:${e.port}`;
}

/** Registered, unfenced and not shutting down: may lead and join ISRs. */
export function isActiveBroker(image: MetadataImage, id: number): boolean {
  const b = image.brokers.get(id);
  return b !== undefined && !b.fenced && !b.inControlledShutdown;
}

export function isReassigning(p: PartitionImage): boolean {
  return p.addingReplicas.length > 0 || p.removingReplicas.length > 0;
}

export class MetadataApplyError extends Error {
  constructor(message: string) {
    super(message);
    this.name = "MetadataApplyError";
  }
}

/**
 * A copy-on-write working copy of an image. Maps are copied the first time a batch writes them, so
 * applying a batch costs what it changes, not the size of the image. `view` is live (do not keep it
 * across `apply` calls); `finish()` returns an independent image.
 */
export class ImageDraft {
  private clusterId: string;
  private highestOffset: number;
  private brokers: Map<number, BrokerImage>;
  private topics: Map<string, TopicImage>;
  private topicIds: Map<string, string>;
  private configs: Map<string, ReadonlyMap<string, string>>;
  private features: Map<string, number>;
  private nextProducerId: bigint;
  private lastProducerIdBroker: { id: number; epoch: bigint };
  private owned = new Set<string>();
  private ownedTopics = new Set<string>();
  private ownedConfigs = new Set<string>();

  constructor(base: MetadataImage) {
    this.clusterId = base.clusterId;
    this.highestOffset = base.highestOffset;
    this.brokers = base.brokers as Map<number, BrokerImage>;
    this.topics = base.topics as Map<string, TopicImage>;
    this.topicIds = base.topicIds as Map<string, string>;
    this.configs = base.configs as Map<string, ReadonlyMap<string, string>>;
    this.features = base.features as Map<string, number>;
    this.nextProducerId = base.nextProducerId;
    this.lastProducerIdBroker = base.lastProducerIdBroker;
  }

  /** The current state (live: it changes with the next `apply`). */
  get view(): MetadataImage {
    return {
      clusterId: this.clusterId,
      highestOffset: this.highestOffset,
      brokers: this.brokers,
      topics: this.topics,
      topicIds: this.topicIds,
      configs: this.configs,
      features: this.features,
      nextProducerId: this.nextProducerId,
      lastProducerIdBroker: this.lastProducerIdBroker,
    };
  }

  /** An independent image; later `apply` calls copy again before writing. */
  finish(): MetadataImage {
    const image = this.view;
    this.owned.clear();
    this.ownedTopics.clear();
    this.ownedConfigs.clear();
    return image;
  }

  setOffset(offset: number): void {
    if (offset < this.highestOffset) {
      throw new MetadataApplyError(`offset ${offset} is below the image's offset ${this.highestOffset}`);
    }
    this.highestOffset = offset;
  }

  private own<K, V>(key: string, map: Map<K, V>): Map<K, V> {
    if (this.owned.has(key)) return map;
    this.owned.add(key);
    return new Map(map);
  }

  private writeBrokers(): Map<number, BrokerImage> {
    this.brokers = this.own("brokers", this.brokers);
    return this.brokers;
  }

  private writeTopic(id: string): { topic: TopicImage; parts: Map<number, PartitionImage> } {
    this.topics = this.own("topics", this.topics);
    const t = this.topics.get(id);
    if (t === undefined) throw new MetadataApplyError(`no topic with id ${id}`);
    if (this.ownedTopics.has(id)) return { topic: t, parts: t.partitions as Map<number, PartitionImage> };
    const copy: TopicImage = { name: t.name, id: t.id, partitions: new Map(t.partitions) };
    this.topics.set(id, copy);
    this.ownedTopics.add(id);
    return { topic: copy, parts: copy.partitions as Map<number, PartitionImage> };
  }

  private writeConfig(key: string): Map<string, string> {
    this.configs = this.own("configs", this.configs);
    let m = this.configs.get(key) as Map<string, string> | undefined;
    if (m === undefined || !this.ownedConfigs.has(key)) {
      m = new Map(m ?? []);
      this.configs.set(key, m);
      this.ownedConfigs.add(key);
    }
    return m;
  }

  private updateBroker(id: number, epoch: bigint, what: string, change: Partial<BrokerImage>): void {
    const b = this.brokers.get(id);
    if (b === undefined) throw new MetadataApplyError(`${what}: broker ${id} is not registered`);
    if (b.epoch !== epoch) {
      throw new MetadataApplyError(`${what}: broker ${id} has epoch ${b.epoch}, not ${epoch}`);
    }
    this.writeBrokers().set(id, { ...b, ...change });
  }

  apply(record: MetadataRecord): void {
    switch (record.type) {
      case "RegisterBrokerRecord": {
        const r = record.data;
        const prev = this.brokers.get(r.brokerId);
        if (prev !== undefined && r.brokerEpoch <= prev.epoch) {
          throw new MetadataApplyError(
            `RegisterBrokerRecord for broker ${r.brokerId} with epoch ${r.brokerEpoch} <= ${prev.epoch}`,
          );
        }
        this.writeBrokers().set(r.brokerId, {
          id: r.brokerId,
          epoch: r.brokerEpoch,
          incarnationId: r.incarnationId,
          endpoints: new Map(
            r.endPoints.map((e) => [
              e.name,
              { host: e.host, port: e.port, securityProtocol: e.securityProtocol },
            ]),
          ),
          features: new Map(
            r.features.map((f) => [f.name, { min: f.minSupportedVersion, max: f.maxSupportedVersion }]),
          ),
          rack: r.rack,
          fenced: r.fenced,
          inControlledShutdown: r.inControlledShutdown ?? false,
        });
        return;
      }
      case "UnregisterBrokerRecord": {
        const r = record.data;
        const b = this.brokers.get(r.brokerId);
        if (b === undefined || b.epoch !== r.brokerEpoch) {
          throw new MetadataApplyError(
            `UnregisterBrokerRecord: no broker ${r.brokerId} at epoch ${r.brokerEpoch}`,
          );
        }
        this.writeBrokers().delete(r.brokerId);
        return;
      }
      case "FenceBrokerRecord":
        this.updateBroker(record.data.id, record.data.epoch, "FenceBrokerRecord", { fenced: true });
        return;
      case "UnfenceBrokerRecord":
        this.updateBroker(record.data.id, record.data.epoch, "UnfenceBrokerRecord", { fenced: false });
        return;
      case "BrokerRegistrationChangeRecord": {
        const r = record.data;
        const change: { fenced?: boolean; inControlledShutdown?: boolean } = {};
        // BrokerRegistrationFencingChange: FENCE 1, NONE 0, UNFENCE -1.
        if (r.fenced === 1) change.fenced = true;
        else if (r.fenced === -1) change.fenced = false;
        else if (r.fenced !== undefined && r.fenced !== 0) {
          throw new MetadataApplyError(`BrokerRegistrationChangeRecord: bad fenced value ${r.fenced}`);
        }
        // BrokerRegistrationInControlledShutdownChange: NONE 0, IN_CONTROLLED_SHUTDOWN 1.
        if (r.inControlledShutdown === 1) change.inControlledShutdown = true;
        else if (r.inControlledShutdown !== undefined && r.inControlledShutdown !== 0) {
          throw new MetadataApplyError(
            `BrokerRegistrationChangeRecord: bad inControlledShutdown value ${r.inControlledShutdown}`,
          );
        }
        this.updateBroker(r.brokerId, r.brokerEpoch, "BrokerRegistrationChangeRecord", change);
        return;
      }
      case "TopicRecord": {
        const r = record.data;
        if (this.topicIds.has(r.name)) throw new MetadataApplyError(`TopicRecord: topic ${r.name} exists`);
        if (this.topics.has(r.topicId))
          throw new MetadataApplyError(`TopicRecord: topic id ${r.topicId} exists`);
        this.topics = this.own("topics", this.topics);
        this.topicIds = this.own("topicIds", this.topicIds);
        this.topics.set(r.topicId, { name: r.name, id: r.topicId, partitions: new Map() });
        this.ownedTopics.add(r.topicId);
        this.topicIds.set(r.name, r.topicId);
        return;
      }
      case "PartitionRecord": {
        const r = record.data;
        const { parts } = this.writeTopic(r.topicId);
        parts.set(r.partitionId, {
          partition: r.partitionId,
          replicas: [...r.replicas],
          isr: [...r.isr],
          removingReplicas: [...r.removingReplicas],
          addingReplicas: [...r.addingReplicas],
          leader: r.leader,
          leaderRecoveryState: r.leaderRecoveryState ?? RECOVERED,
          leaderEpoch: r.leaderEpoch,
          partitionEpoch: r.partitionEpoch,
        });
        return;
      }
      case "PartitionChangeRecord": {
        const r = record.data;
        const { topic, parts } = this.writeTopic(r.topicId);
        const p = parts.get(r.partitionId);
        if (p === undefined) {
          throw new MetadataApplyError(`PartitionChangeRecord: no partition ${topic.name}-${r.partitionId}`);
        }
        parts.set(r.partitionId, mergePartitionChange(p, r));
        return;
      }
      case "RemoveTopicRecord": {
        const t = this.topics.get(record.data.topicId);
        if (t === undefined)
          throw new MetadataApplyError(`RemoveTopicRecord: no topic id ${record.data.topicId}`);
        this.topics = this.own("topics", this.topics);
        this.topicIds = this.own("topicIds", this.topicIds);
        this.topics.delete(t.id);
        this.ownedTopics.delete(t.id);
        this.topicIds.delete(t.name);
        // Like Kafka, removing a topic removes its config overrides.
        const key = configKey(RESOURCE_TOPIC, t.name);
        if (this.configs.has(key)) {
          this.configs = this.own("configs", this.configs);
          this.configs.delete(key);
          this.ownedConfigs.delete(key);
        }
        return;
      }
      case "ConfigRecord": {
        const r = record.data;
        const key = configKey(r.resourceType, r.resourceName);
        const m = this.writeConfig(key);
        if (r.value === null) m.delete(r.name);
        else m.set(r.name, r.value);
        if (m.size === 0) {
          this.configs.delete(key);
          this.ownedConfigs.delete(key);
        }
        return;
      }
      case "FeatureLevelRecord":
        this.features = this.own("features", this.features);
        if (record.data.featureLevel === 0) this.features.delete(record.data.name);
        else this.features.set(record.data.name, record.data.featureLevel);
        return;
      case "ProducerIdsRecord": {
        const r = record.data;
        if (r.nextProducerId <= this.nextProducerId) {
          throw new MetadataApplyError(
            `ProducerIdsRecord: next producer id ${r.nextProducerId} <= ${this.nextProducerId}`,
          );
        }
        this.nextProducerId = r.nextProducerId;
        this.lastProducerIdBroker = { id: r.brokerId, epoch: r.brokerEpoch };
        return;
      }
      case "NoOpRecord":
      case "Unmodeled":
        return;
    }
  }
}

/** A partition after a PartitionChangeRecord: absent fields keep their value; a leader field (even the
 *  same leader) bumps the leader epoch; every change bumps the partition epoch. */
export function mergePartitionChange(p: PartitionImage, r: PartitionChangeRecord): PartitionImage {
  const leader = r.leader ?? NO_LEADER_CHANGE;
  const leaderChanged = leader !== NO_LEADER_CHANGE;
  return {
    partition: p.partition,
    replicas: r.replicas ? [...r.replicas] : p.replicas,
    isr: r.isr ? [...r.isr] : p.isr,
    removingReplicas: r.removingReplicas ? [...r.removingReplicas] : p.removingReplicas,
    addingReplicas: r.addingReplicas ? [...r.addingReplicas] : p.addingReplicas,
    leader: leaderChanged ? leader : p.leader,
    leaderRecoveryState:
      r.leaderRecoveryState !== undefined && r.leaderRecoveryState !== -1
        ? r.leaderRecoveryState
        : p.leaderRecoveryState,
    leaderEpoch: leaderChanged ? p.leaderEpoch + 1 : p.leaderEpoch,
    partitionEpoch: p.partitionEpoch + 1,
  };
}

/** Applies one record. `offset`, when given, becomes the image's highest applied offset. */
export function applyRecord(image: MetadataImage, record: MetadataRecord, offset?: number): MetadataImage {
  return applyRecords(image, [record], offset);
}

/** Applies a batch in order (atomically: on a MetadataApplyError the input image is untouched). */
export function applyRecords(
  image: MetadataImage,
  records: Iterable<MetadataRecord>,
  offset?: number,
): MetadataImage {
  const d = new ImageDraft(image);
  for (const r of records) d.apply(r);
  if (offset !== undefined) d.setOffset(offset);
  return d.finish();
}

// ---- snapshots --------------------------------------------------------------------------------------

/**
 * The records that recreate `image` from an empty one, in a canonical order (brokers by id, features by
 * name, topics by name with partitions by index, configs by resource then name, producer ids). Two
 * images are equal exactly when their snapshot records are.
 */
export function imageToRecords(image: MetadataImage): MetadataRecord[] {
  const out: MetadataRecord[] = [];
  for (const name of [...image.features.keys()].sort()) {
    out.push({ type: "FeatureLevelRecord", data: { name, featureLevel: image.features.get(name)! } });
  }
  for (const id of [...image.brokers.keys()].sort((a, b) => a - b)) {
    const b = image.brokers.get(id)!;
    out.push({
      type: "RegisterBrokerRecord",
      data: {
        brokerId: b.id,
        incarnationId: b.incarnationId,
        brokerEpoch: b.epoch,
        endPoints: [...b.endpoints].map(([name, e]) => ({
          name,
          host: e.host,
          port: e.port,
          securityProtocol: e.securityProtocol,
        })),
        features: [...b.features].map(([name, f]) => ({
          name,
          minSupportedVersion: f.min,
          maxSupportedVersion: f.max,
        })),
        rack: b.rack,
        fenced: b.fenced,
        inControlledShutdown: b.inControlledShutdown,
      },
    });
  }
  for (const name of [...image.topicIds.keys()].sort()) {
    const t = image.topics.get(image.topicIds.get(name)!)!;
    out.push({ type: "TopicRecord", data: { name: t.name, topicId: t.id } });
    for (const index of [...t.partitions.keys()].sort((a, b) => a - b)) {
      const p = t.partitions.get(index)!;
      out.push({
        type: "PartitionRecord",
        data: {
          partitionId: p.partition,
          topicId: t.id,
          replicas: [...p.replicas],
          isr: [...p.isr],
          removingReplicas: [...p.removingReplicas],
          addingReplicas: [...p.addingReplicas],
          leader: p.leader,
          leaderRecoveryState: p.leaderRecoveryState,
          leaderEpoch: p.leaderEpoch,
          partitionEpoch: p.partitionEpoch,
        },
      });
    }
  }
  for (const key of [...image.configs.keys()].sort()) {
    const sep = key.indexOf(":");
    const resourceType = Number(key.slice(0, sep));
    const resourceName = key.slice(sep + 1);
    const m = image.configs.get(key)!;
    for (const name of [...m.keys()].sort()) {
      out.push({ type: "ConfigRecord", data: { resourceType, resourceName, name, value: m.get(name)! } });
    }
  }
  if (image.nextProducerId > 0n) {
    out.push({
      type: "ProducerIdsRecord",
      data: {
        brokerId: image.lastProducerIdBroker.id,
        brokerEpoch: image.lastProducerIdBroker.epoch,
        nextProducerId: image.nextProducerId,
      },
    });
  }
  return out;
}

const SNAPSHOT_MAGIC = 0x474d5331; // "GMS1"

/**
 * Snapshot bytes for a Raft snapshot: int32 magic, compact string cluster id, int64 highest offset,
 * then the snapshot records as a batch (see encodeMetadataBatch). Canonical: equal images give equal bytes.
 */
export function encodeImageSnapshot(image: MetadataImage): Buffer {
  const w = new Writer(1024);
  w.int32(SNAPSHOT_MAGIC);
  w.compactString(image.clusterId);
  w.int64(BigInt(image.highestOffset));
  writeRecordList(w, imageToRecords(image));
  return Buffer.from(w.finish());
}

export function decodeImageSnapshot(bytes: Uint8Array): MetadataImage {
  const r = new Reader(toBuffer(bytes));
  if (r.int32() !== SNAPSHOT_MAGIC) r.fail("INVALID_VALUE", "not a metadata image snapshot");
  const clusterId = r.compactString();
  const offset = Number(r.int64());
  const records = readRecordList(r);
  if (r.remaining() !== 0) r.fail("INVALID_VALUE", `${r.remaining()} trailing bytes after a snapshot`);
  return applyRecords(emptyImage(clusterId), records, offset);
}

/** Structural equality of two images (through their canonical snapshots). */
export function imagesEqual(a: MetadataImage, b: MetadataImage): boolean {
  return encodeImageSnapshot(a).equals(encodeImageSnapshot(b));
}
