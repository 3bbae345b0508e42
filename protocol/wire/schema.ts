/**
 * A compact, runtime description of one message spec, emitted next to each generated codec.
 * It carries names, types and version ranges only (never the spec's prose), and lets tests and
 * tools walk a message generically (random value generation, default normalisation, docs).
 */
export interface FieldSchema {
  /** Spec name, e.g. `TopicData`. */
  name: string;
  /** Property name in the generated interface, e.g. `topicData`. */
  prop: string;
  /** Spec type: a primitive (`int32`), `[]elem`, or a struct name. */
  type: string;
  versions: string;
  nullableVersions?: string;
  taggedVersions?: string;
  tag?: number;
  ignorable?: boolean;
  mapKey?: boolean;
  /** Field-level override of the message's flexible versions (only RequestHeader.ClientId uses it). */
  flexibleVersions?: string;
  /** The spec's `default`, verbatim. */
  default?: string | number | boolean;
  /** Inline struct fields, when this field defines a struct. */
  fields?: FieldSchema[];
}

export interface MessageSchema {
  name: string;
  type: "request" | "response" | "header" | "data" | "metadata";
  apiKey?: number;
  validVersions: string;
  flexibleVersions: string;
  fields: FieldSchema[];
  commonStructs: { name: string; versions: string; fields: FieldSchema[] }[];
}
