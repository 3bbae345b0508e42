/** Small helpers shared by the API handlers. */
import { ERROR_CODES, type ErrorName } from "../../../protocol/error-codes.ts";
import { isStorageError } from "../../storage/errors.ts";
import type { RequestContext } from "./types.ts";

export const NONE = 0;

export function code(name: ErrorName): number {
  return ERROR_CODES[name];
}

/** Kafka's "authorized operations not requested" sentinel (Integer.MIN_VALUE). */
export const AUTHORIZED_OPERATIONS_OMITTED = -2147483648;

export const ZERO_UUID = "00000000-0000-0000-0000-000000000000";

/** Maps an exception from storage to a Kafka error code; anything unexpected is logged and UNKNOWN_SERVER_ERROR. */
export function errorCodeOf(ctx: RequestContext, e: unknown, what: string): number {
  if (isStorageError(e)) return ERROR_CODES[e.kafkaError];
  ctx.log.error({ err: e }, `${what} failed`);
  return ERROR_CODES.UNKNOWN_SERVER_ERROR;
}

/** Kafka's currentLeaderEpoch check (-1 = not checked): FENCED when older, UNKNOWN when newer. */
export function checkLeaderEpoch(current: number | undefined, leaderEpoch: number): number {
  if (current === undefined || current < 0 || current === leaderEpoch) return NONE;
  return current < leaderEpoch ? ERROR_CODES.FENCED_LEADER_EPOCH : ERROR_CODES.UNKNOWN_LEADER_EPOCH;
}
