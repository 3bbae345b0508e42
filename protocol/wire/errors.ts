/**
 * The single error type of the codec. Every malformed, truncated or hostile input must surface as a
 * ProtocolError (never a RangeError or TypeError from Buffer), so the broker can answer with a clean
 * error or close the connection, and the fuzz tests can assert that nothing else escapes.
 */
export type ProtocolErrorCode =
  | "TRUNCATED"
  | "NEGATIVE_LENGTH"
  | "LENGTH_TOO_LARGE"
  | "ARRAY_TOO_LARGE"
  | "VARINT_TOO_LONG"
  | "UNKNOWN_API_KEY"
  | "UNSUPPORTED_VERSION"
  | "INVALID_VALUE"
  | "FRAME_TOO_LARGE"
  | "CORRUPT_RECORD"
  | "CRC_MISMATCH"
  | "UNSUPPORTED_COMPRESSION";

export interface ProtocolErrorContext {
  /** Byte offset in the buffer being read or written, when known. */
  offset?: number;
  /** Dotted field path such as `ProduceRequest.topicData.name`, when known. */
  field?: string;
}

export class ProtocolError extends Error {
  readonly code: ProtocolErrorCode;
  readonly offset: number | undefined;
  readonly field: string | undefined;

  constructor(code: ProtocolErrorCode, detail: string, context: ProtocolErrorContext = {}) {
    super(formatMessage(code, detail, context));
    this.name = "ProtocolError";
    this.code = code;
    this.offset = context.offset;
    this.field = context.field;
  }
}

function formatMessage(code: ProtocolErrorCode, detail: string, context: ProtocolErrorContext): string {
  const where: string[] = [];
  if (context.field) where.push(`field ${context.field}`);
  if (context.offset !== undefined) where.push(`byte offset ${context.offset}`);
  return where.length > 0 ? `${code}: ${detail} (${where.join(", ")})` : `${code}: ${detail}`;
}

export function isProtocolError(e: unknown): e is ProtocolError {
  return e instanceof ProtocolError;
}

/** Throws UNSUPPORTED_VERSION unless `min <= version <= max`. */
export function checkVersion(name: string, version: number, min: number, max: number): void {
  if (!Number.isInteger(version) || version < min || version > max) {
    throw new ProtocolError("UNSUPPORTED_VERSION", `${name} version ${version} is outside ${min}-${max}`);
  }
}
