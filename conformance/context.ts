// What a conformance test file uses: the run info, the capability check, unique topic names, the raw
// client, the Allure labels, and the two ways to declare tests:
//   clientMatrix("Produce", (test) => test("name", opts, async ({ client, raw, newTopic }) => ...))
//     one body, run once per client of the matrix (describe.each over kafkajs and rdkafka);
//   rawSuite("ApiVersions", (test) => test("name", opts, async ({ raw }) => ...))
//     raw-protocol tests through the project's codec (client "raw").
import * as allure from "allure-js-commons";
import { afterAll, beforeAll, describe, inject, type TestContext, test } from "vitest";
import { deriveSeed, SeededRandom } from "../harness/seed.ts";
import { type Capability, missingCapability } from "./capabilities.ts";
import { type ClientKind, type ClientOp, type ConformanceClient, createClient } from "./clients/index.ts";
import type { RunInfo } from "./config.ts";
import { RawKafka } from "./raw/kafka.ts";

declare module "vitest" {
  interface TaskMeta {
    client?: string;
    feature?: string;
    target?: string;
  }
}

export const run: RunInfo = inject("gauntlet");

export interface TestOptions {
  /** Target capabilities the test needs (probed from ApiVersions or declared). */
  requires?: Capability[];
  /** Client operations the test needs; a client that lacks one reports the test "not supported". */
  clientOps?: ClientOp[];
  timeout?: number;
}

export interface RawEnv {
  raw: RawKafka;
  run: RunInfo;
  /** A topic name unique to this run. */
  topicName(label?: string): string;
  /** Creates a topic through raw CreateTopics (and waits for its leaders); returns its name. */
  newTopic(opts?: {
    partitions?: number;
    replicationFactor?: number;
    configs?: Record<string, string>;
  }): Promise<string>;
  rng: SeededRandom;
  ctx: TestContext;
}

export interface ClientEnv extends RawEnv {
  client: ConformanceClient;
  kind: ClientKind;
}

type Register<E> = (name: string, opts: TestOptions, fn: (env: E) => Promise<void>) => void;

const nonce = Date.now().toString(36).slice(-4);
let topicCounter = 0;

function slug(s: string): string {
  return s
    .toLowerCase()
    .replace(/[^a-z0-9]+/g, "-")
    .replace(/^-|-$/g, "")
    .slice(0, 30);
}

function makeEnv(feature: string, raw: () => RawKafka, ctx: TestContext, testName: string): RawEnv {
  const rng = new SeededRandom(deriveSeed(run.seed, `${feature}/${testName}`));
  const topicName = (label = feature) =>
    `gt-${slug(label)}-${nonce}${(topicCounter++).toString(36)}-${rng.nextUint32().toString(36)}`;
  return {
    raw: raw(),
    run,
    rng,
    ctx,
    topicName,
    async newTopic(opts = {}) {
      const name = topicName();
      const res = await raw().createTopic(name, opts);
      if (res.errorCode !== 0) {
        throw new Error(
          `setup: CreateTopics ${name} failed with error ${res.errorCode}: ${res.errorMessage}`,
        );
      }
      return name;
    },
  };
}

/** Labels the current test for Allure and the summary, and skips it (with reason) if unsupported. */
async function prepare(
  ctx: TestContext,
  feature: string,
  client: string,
  opts: TestOptions,
  raw: RawKafka,
  impl?: ConformanceClient,
): Promise<void> {
  ctx.task.meta.client = client;
  ctx.task.meta.feature = feature;
  ctx.task.meta.target = run.target;
  await allure.label("suite", "conformance");
  await allure.label("target", run.target);
  await allure.label("client", client);
  await allure.feature(feature);
  await allure.parameter("client", client);
  await allure.parameter("target", run.target);
  const reasons: string[] = [];
  if (opts.requires?.length) {
    const ranges = await raw.apiVersions();
    for (const cap of opts.requires) {
      const why = missingCapability(cap, run, ranges);
      if (why) reasons.push(why);
    }
  }
  for (const op of opts.clientOps ?? []) {
    const why = impl?.unsupported[op];
    if (why) reasons.push(`${client}: ${why}`);
  }
  if (reasons.length) {
    const reason = `not supported: ${reasons.join("; ")}`;
    await allure.label("notSupported", reason);
    await allure.description(reason);
    ctx.skip(reason);
  }
}

function lazyRaw(): { get: () => RawKafka; close: () => void } {
  let raw: RawKafka | undefined;
  return {
    get: () => {
      raw ??= new RawKafka(run.bootstrap);
      return raw;
    },
    close: () => raw?.close(),
  };
}

/** Declares tests that run once per client of the matrix, with one body. */
export function clientMatrix(feature: string, define: (test: Register<ClientEnv>) => void): void {
  if (run.clients.length === 0) return; // --client none: raw-protocol tests only (no empty suites)
  describe(feature, () => {
    describe.each(run.clients)("%s", (kind) => {
      let client: ConformanceClient | undefined;
      const raw = lazyRaw();
      beforeAll(() => {
        client = createClient(kind, run.bootstrap);
      });
      afterAll(async () => {
        await client?.close();
        raw.close();
      });
      define((name, opts, fn) => {
        test(name, { timeout: opts.timeout ?? 60_000 }, async (ctx) => {
          await prepare(ctx, feature, kind, opts, raw.get(), client);
          await fn({ ...makeEnv(feature, raw.get, ctx, `${kind}/${name}`), client: client!, kind });
        });
      });
    });
  });
}

/** Declares raw-protocol tests (client "raw"). */
export function rawSuite(feature: string, define: (test: Register<RawEnv>) => void): void {
  describe(feature, () => {
    describe("raw", () => {
      const raw = lazyRaw();
      afterAll(() => raw.close());
      define((name, opts, fn) => {
        test(name, { timeout: opts.timeout ?? 60_000 }, async (ctx) => {
          await prepare(ctx, feature, "raw", opts, raw.get());
          await fn(makeEnv(feature, raw.get, ctx, `raw/${name}`));
        });
      });
    });
  });
}

/** Expects fn to reject with a ClientError carrying the Kafka error name. */
export async function expectKafkaError(fn: () => Promise<unknown>, name: string | string[]): Promise<string> {
  const names = Array.isArray(name) ? name : [name];
  try {
    await fn();
  } catch (err) {
    const got = (err as { kafkaError?: string }).kafkaError ?? (err as Error).message;
    if (!names.includes(got)) {
      throw new Error(`expected Kafka error ${names.join(" or ")}, got ${got} (${(err as Error).message})`);
    }
    return got;
  }
  throw new Error(`expected Kafka error ${names.join(" or ")}, but the operation succeeded`);
}
