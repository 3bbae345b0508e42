/** ApiVersions (key 18): advertises exactly the APIs in the dispatcher table, at the versions implemented. */
import { ERROR_CODES } from "../../../protocol/error-codes.ts";
import { type ApiVersionsResponse, apis } from "../../../protocol/generated/index.ts";
import { defineHandler } from "./types.ts";

/** Kafka's ApiVersionsRequest.isValid: client software name and version must match this. */
const SOFTWARE_PATTERN = /^[a-zA-Z0-9](?:[a-zA-Z0-9\-.]*[a-zA-Z0-9])?$/;

export const apiVersions = defineHandler(apis.ApiVersions, 0, 4, (ctx, req): ApiVersionsResponse => {
  const apiKeys = ctx.broker.dispatcher.advertised();
  if (
    ctx.apiVersion >= 3 &&
    (!SOFTWARE_PATTERN.test(req.clientSoftwareName ?? "") ||
      !SOFTWARE_PATTERN.test(req.clientSoftwareVersion ?? ""))
  ) {
    return { errorCode: ERROR_CODES.INVALID_REQUEST, apiKeys: [], throttleTimeMs: 0 };
  }
  const res: ApiVersionsResponse = { errorCode: 0, apiKeys, throttleTimeMs: 0 };
  if (ctx.apiVersion >= 3) {
    res.supportedFeatures = [];
    res.finalizedFeaturesEpoch = -1n;
    res.finalizedFeatures = [];
  }
  return res;
});

/**
 * KIP-511: an ApiVersions request of a version the broker does not know is answered with
 * UNSUPPORTED_VERSION, encoded as v0, listing the ApiVersions range so the client can retry.
 */
export function unsupportedApiVersionsResponse(): ApiVersionsResponse {
  return {
    errorCode: ERROR_CODES.UNSUPPORTED_VERSION,
    apiKeys: [
      {
        apiKey: apis.ApiVersions.apiKey,
        minVersion: apiVersions.minVersion,
        maxVersion: apiVersions.maxVersion,
      },
    ],
  };
}
