/** The classic group coordinator: what the broker's API handlers use. See README.md. */
export {
  CONSUMER_PROTOCOL_TYPE,
  decodeSubscription,
  encodeSubscription,
  subscribedTopicsOf,
} from "./consumer-protocol.ts";
export {
  GroupCoordinator,
  type GroupCoordinatorOptions,
  type GroupService,
  groupPartition,
} from "./coordinator.ts";
export { FileGroupStore, type FileGroupStoreOptions } from "./file-store.ts";
export {
  decodeOffsetsRecord,
  encodeOffsetsRecord,
  type KeyValue,
  OffsetsRecordFormatError,
} from "./offsets-format.ts";
export {
  type OffsetsLogPort,
  PartitionGroupStore,
  type PartitionGroupStoreOptions,
  storeError,
} from "./partition-store.ts";
export {
  AUTHORIZED_OPERATIONS_OMITTED,
  DEFAULT_GROUP_CONFIG,
  errorResponses,
  type GroupConfig,
  GroupStateMachine,
  leaveGroupV0ErrorCode,
  normalizeAppendError,
} from "./state-machine.ts";
export { type GroupStore, MemoryGroupStore } from "./store.ts";
export type * from "./types.ts";
