/**
 * The single error type of the storage layer. `kafkaError` is the Kafka error name the broker should
 * answer with (it maps names to codes), so callers never need to parse messages.
 */
export type StorageKafkaError =
  | "CORRUPT_MESSAGE"
  | "INVALID_RECORD"
  | "INVALID_TIMESTAMP"
  | "MESSAGE_TOO_LARGE"
  | "RECORD_LIST_TOO_LARGE"
  | "UNSUPPORTED_FOR_MESSAGE_FORMAT"
  | "OFFSET_OUT_OF_RANGE"
  | "KAFKA_STORAGE_ERROR"
  | "UNKNOWN_TOPIC_OR_PARTITION"
  | "INCONSISTENT_TOPIC_ID"
  | "INVALID_REQUEST";

export class StorageError extends Error {
  readonly kafkaError: StorageKafkaError;

  constructor(kafkaError: StorageKafkaError, message: string, options?: { cause?: unknown }) {
    super(`${kafkaError}: ${message}`, options);
    this.name = "StorageError";
    this.kafkaError = kafkaError;
  }
}

export function isStorageError(e: unknown): e is StorageError {
  return e instanceof StorageError;
}

/** Wraps an unexpected I/O failure as KAFKA_STORAGE_ERROR (a StorageError passes through). */
export function asStorageError(e: unknown, what: string): StorageError {
  if (e instanceof StorageError) return e;
  const detail = e instanceof Error ? e.message : String(e);
  return new StorageError("KAFKA_STORAGE_ERROR", `${what}: ${detail}`, { cause: e });
}
