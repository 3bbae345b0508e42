// Image profiles (--target image:<name> --profile <file>): checked with one sentence per problem, and
// rendered per node with the cluster's variables.
import { join } from "node:path";
import { describe, expect, test } from "vitest";
import { parseTargetSpec } from "../cluster/index.ts";
import { loadProfile, renderProfile, validateProfile } from "../docker/profile.ts";
import { REPO_ROOT } from "../tools.ts";

const base = { clientPort: 9092, dataDir: "/data", ready: "started" };

describe("validateProfile", () => {
  test.each([
    [null, /must be a mapping/],
    [{ ...base, clientPort: 0 }, /clientPort must be a port number/],
    [{ ...base, clientPort: "9092" }, /clientPort must be a port number/],
    [{ ...base, dataDir: "data" }, /dataDir must be an absolute path/],
    [{ ...base, ready: "(" }, /ready is not a valid regular expression/],
    [{ ...base, command: "--node-id 1" }, /command must be a list of strings/],
    [{ ...base, environment: ["A=1"] }, /environment must be a mapping/],
    [{ ...base, port: 1 }, /unknown field "port"/],
    [{ ...base, command: ["${NODE}"] }, /\$\{NODE\}, which is not a profile variable/],
    [{ ...base, command: ["${VOTERS}"] }, /\$\{VOTERS\}, which needs controllerPort/],
  ])("%j is refused", (raw, message) => {
    expect(() => validateProfile(raw)).toThrow(message);
  });

  test("a good profile passes, numbers in the environment become strings", () => {
    expect(validateProfile({ ...base, environment: { A: 1 } })).toEqual({ ...base, environment: { A: "1" } });
  });
});

test("the shipped reference profile renders every node's peers by alias", () => {
  const profile = loadProfile(join(REPO_ROOT, "docker/profiles/reference.yaml"));
  const aliases = new Map([1, 2, 3].map((id) => [id, `node-${id}`]));
  const { command } = renderProfile(profile, {
    nodeId: 2,
    nodeCount: 3,
    alias: "node-2",
    advertised: { host: "127.0.0.1", port: 40002 },
    clusterId: "R2F1bnRsZXRDb21wb3NlMQ",
    aliases,
  });
  const arg = (flag: string) => command![command!.indexOf(flag) + 1];
  expect(arg("--node-id")).toBe("2");
  expect(arg("--advertised")).toBe("127.0.0.1:40002");
  expect(arg("--cluster-id")).toBe("R2F1bnRsZXRDb21wb3NlMQ");
  expect(arg("--peers")).toBe("1=node-1:9093,2=node-2:9093,3=node-3:9093");
  expect(arg("--kafka-peers")).toBe("1=node-1:9092,3=node-3:9092");
  expect(command!.join(" ")).not.toContain("${");
});

test("loadProfile names the file and the problem", () => {
  expect(() => loadProfile("/nonexistent/profile.yaml")).toThrow(
    /\/nonexistent\/profile.yaml cannot be read/,
  );
});

describe("parseTargetSpec", () => {
  test("names and images", () => {
    expect(parseTargetSpec("reference")).toEqual({ target: "reference" });
    expect(parseTargetSpec("image:acme/broker:1.2")).toEqual({ target: "image", image: "acme/broker:1.2" });
  });
  test.each([
    ["image", /needs the image's name/],
    ["image:", /does not name an image/],
    ["image:has space", /does not name an image/],
    ["redpanda", /Unknown target "redpanda"/],
  ])("%s is refused", (text, message) => {
    expect(() => parseTargetSpec(text)).toThrow(message);
  });
});
