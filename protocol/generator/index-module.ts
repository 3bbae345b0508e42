/** Emits `protocol/generated/index.ts`: the API registry and re-exports. */
import { camel, HEADER_LINE } from "./emit.ts";
import type { MessageModel } from "./spec.ts";

export interface ApiPair {
  apiKey: number;
  name: string;
  request: MessageModel;
  response: MessageModel;
}

export function pairApis(models: MessageModel[]): ApiPair[] {
  const byKey = new Map<number, { request?: MessageModel; response?: MessageModel }>();
  for (const m of models) {
    if (m.apiKey === null || (m.type !== "request" && m.type !== "response")) continue;
    const entry = byKey.get(m.apiKey) ?? {};
    entry[m.type] = m;
    byKey.set(m.apiKey, entry);
  }
  const pairs: ApiPair[] = [];
  for (const [apiKey, { request, response }] of [...byKey].sort((a, b) => a[0] - b[0])) {
    if (!request || !response) throw new Error(`API key ${apiKey} lacks a request or response spec`);
    if (request.valid.min !== response.valid.min || request.valid.max !== response.valid.max) {
      throw new Error(`API key ${apiKey}: request and response valid versions differ`);
    }
    pairs.push({ apiKey, name: request.name.replace(/Request$/, ""), request, response });
  }
  return pairs;
}

export function emitIndex(models: MessageModel[]): string {
  const pairs = pairApis(models);
  const out: string[] = [HEADER_LINE, ""];
  out.push(
    'import type { Reader } from "../wire/reader.ts";',
    'import type { MessageSchema } from "../wire/schema.ts";',
    'import type { Writer } from "../wire/writer.ts";',
  );
  for (const p of pairs) {
    for (const m of [p.request, p.response]) {
      out.push(
        `import { decode${m.name}, default${m.name}, encode${m.name}, type ${m.name}, ${camel(m.name)}Schema } from "./${m.fileBase}.ts";`,
      );
    }
  }
  out.push("");
  for (const m of models) {
    out.push(
      `export { decode${m.name}, default${m.name}, encode${m.name}, type ${m.name}, ${camel(m.name)}Schema } from "./${m.fileBase}.ts";`,
    );
  }
  out.push(
    "",
    "/** One Kafka API: version range, header versions and the body codecs of its request and response. */",
    "export interface ApiDefinition<Req = unknown, Res = unknown> {",
    "apiKey: number;",
    "name: string;",
    "minVersion: number;",
    "maxVersion: number;",
    "/** Lowest flexible version (compact encodings, tagged fields), or null if none. */",
    "flexibleVersions: number | null;",
    "/** Kafka marks the newest version unstable: not advertised by default in ApiVersions. */",
    "latestVersionUnstable: boolean;",
    "requestHeaderVersion(version: number): number;",
    "responseHeaderVersion(version: number): number;",
    "encodeRequest(w: Writer, body: Req, version: number): void;",
    "decodeRequest(r: Reader, version: number): Req;",
    "encodeResponse(w: Writer, body: Res, version: number): void;",
    "decodeResponse(r: Reader, version: number): Res;",
    "defaultRequest(): Req;",
    "defaultResponse(): Res;",
    "requestSchema: MessageSchema;",
    "responseSchema: MessageSchema;",
    "}",
    "",
    "/** API keys by name, e.g. `ApiKey.Produce === 0`. */",
    "export const ApiKey = {",
    ...pairs.map((p) => `${p.name}: ${p.apiKey},`),
    "} as const;",
    "export type ApiKey = (typeof ApiKey)[keyof typeof ApiKey];",
    "",
    "/**",
    " * Request header version for an API version: v2 in flexible versions, else v1; ControlledShutdown",
    " * v0 is the one request that still uses header v0 (no client id).",
    " */",
    "function requestHeaderVersionFor(apiKey: number, flexibleMin: number | null, version: number): number {",
    `if (apiKey === ${pairs.find((p) => p.name === "ControlledShutdown")?.apiKey ?? 7} && version === 0) return 0;`,
    "return flexibleMin !== null && version >= flexibleMin ? 2 : 1;",
    "}",
    "",
    "/**",
    " * Response header version: v1 (with tagged fields) in flexible versions, else v0. ApiVersions",
    " * responses always use v0 so a client can parse them before it knows what the broker supports.",
    " */",
    "function responseHeaderVersionFor(apiKey: number, flexibleMin: number | null, version: number): number {",
    `if (apiKey === ${pairs.find((p) => p.name === "ApiVersions")?.apiKey ?? 18}) return 0;`,
    "return flexibleMin !== null && version >= flexibleMin ? 1 : 0;",
    "}",
    "",
    "/** Every API, by name. */",
    "export const apis = {",
  );
  for (const p of pairs) {
    const flexMin = p.request.flexible ? p.request.flexible.min : null;
    out.push(
      `${p.name}: {`,
      `apiKey: ${p.apiKey},`,
      `name: ${JSON.stringify(p.name)},`,
      `minVersion: ${p.request.valid.min},`,
      `maxVersion: ${p.request.valid.max},`,
      `flexibleVersions: ${flexMin},`,
      `latestVersionUnstable: ${p.request.latestVersionUnstable},`,
      `requestHeaderVersion: (version: number) => requestHeaderVersionFor(${p.apiKey}, ${flexMin}, version),`,
      `responseHeaderVersion: (version: number) => responseHeaderVersionFor(${p.apiKey}, ${flexMin}, version),`,
      `encodeRequest: encode${p.request.name},`,
      `decodeRequest: decode${p.request.name},`,
      `encodeResponse: encode${p.response.name},`,
      `decodeResponse: decode${p.response.name},`,
      `defaultRequest: default${p.request.name},`,
      `defaultResponse: default${p.response.name},`,
      `requestSchema: ${camel(p.request.name)}Schema,`,
      `responseSchema: ${camel(p.response.name)}Schema,`,
      `} satisfies ApiDefinition<${p.request.name}, ${p.response.name}>,`,
    );
  }
  out.push(
    "} as const;",
    "",
    "/** Request and response body types by API key. */",
    "export interface ApiTypes {",
    ...pairs.map((p) => `${p.apiKey}: { request: ${p.request.name}; response: ${p.response.name} };`),
    "}",
    "",
    "/** Every API, by key. */",
    "export const apiByKey: ReadonlyMap<number, ApiDefinition> = new Map(",
    "Object.values(apis).map((api): [number, ApiDefinition] => [api.apiKey, api as ApiDefinition]),",
    ");",
    "",
    "/** The API with this key, or undefined for an unknown key. */",
    "export function getApi(apiKey: number): ApiDefinition | undefined {",
    "return apiByKey.get(apiKey);",
    "}",
    "",
  );
  return out.join("\n");
}

/** Emits `protocol/generated/metadata/index.ts`: KRaft metadata record types by type id. */
export function emitMetadataIndex(models: MessageModel[]): string {
  const out: string[] = [HEADER_LINE, ""];
  out.push(
    'import type { Reader } from "../../wire/reader.ts";',
    'import type { Writer } from "../../wire/writer.ts";',
  );
  const sorted = [...models].sort((a, b) => (a.apiKey ?? 0) - (b.apiKey ?? 0));
  for (const m of sorted) {
    out.push(`import { decode${m.name}, encode${m.name} } from "./${m.fileBase}.ts";`);
  }
  for (const m of sorted) {
    out.push(
      `export { decode${m.name}, default${m.name}, encode${m.name}, type ${m.name}, ${camel(m.name)}Schema } from "./${m.fileBase}.ts";`,
    );
  }
  out.push(
    "",
    "/** One KRaft metadata record type. */",
    "export interface MetadataRecordType {",
    "typeId: number;",
    "name: string;",
    "minVersion: number;",
    "maxVersion: number;",
    "flexibleVersions: number | null;",
    "encode(w: Writer, record: never, version: number): void;",
    "decode(r: Reader, version: number): unknown;",
    "}",
    "",
    "/** Metadata record types by type id. */",
    "export const metadataRecordTypes: ReadonlyMap<number, MetadataRecordType> = new Map<number, MetadataRecordType>([",
  );
  for (const m of sorted) {
    out.push(
      `[${m.apiKey}, { typeId: ${m.apiKey}, name: ${JSON.stringify(m.name)}, minVersion: ${m.valid.min}, maxVersion: ${m.valid.max}, flexibleVersions: ${m.flexible ? m.flexible.min : null}, encode: encode${m.name} as MetadataRecordType["encode"], decode: decode${m.name} }],`,
    );
  }
  out.push("]);", "");
  return out.join("\n");
}
