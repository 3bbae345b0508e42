// Image profiles: how to run nodes of a broker image Gauntlet did not build (`--target image:<name>
// --profile <file>`), so a broker team can test the image it ships. A profile is a small YAML or JSON
// file: the container's client port, data dir, the log line that means "ready", and the command and
// environment of each node, with ${VARIABLES} filled in per node (see PROFILE_VARIABLES).
// Pure except loadProfile's file read.
import { readFileSync } from "node:fs";
import { parse } from "yaml";

export interface ImageProfile {
  /** Container port of the Kafka listener clients use (published on 127.0.0.1). */
  clientPort: number;
  /** Container port of the controller/Raft listener, if the broker has one (for ${VOTERS}, ${PEERS}). */
  controllerPort?: number;
  /** Where the broker keeps its data in the container: a host directory is bind-mounted there. */
  dataDir: string;
  /** A regular expression: a node is started once a line of its output matches it. */
  ready: string;
  /** Arguments after the image's entrypoint (default: the image's own CMD). */
  command?: string[];
  /** Environment of every node. */
  environment?: Record<string, string>;
}

/** The variables a profile's command and environment may use, with what they become. */
export const PROFILE_VARIABLES: Record<string, string> = {
  NODE_ID: "the node's id, 1..N",
  NODE_COUNT: "N, the cluster's size",
  ALIAS: "the node's name on the cluster's docker network (node-<id>)",
  ADVERTISED: "host:port clients must be told (127.0.0.1:<published port>, or a proxy)",
  ADVERTISED_HOST: "host part of ADVERTISED",
  ADVERTISED_PORT: "port part of ADVERTISED",
  CLIENT_PORT: "the profile's clientPort",
  CONTROLLER_PORT: "the profile's controllerPort",
  DATA_DIR: "the profile's dataDir",
  CLUSTER_ID: "a random cluster id (22 characters, base64url), the same for every node",
  VOTERS: "KRaft voters: 1@node-1:<controllerPort>,2@node-2:…",
  PEERS: "every node: 1=node-1:<controllerPort>,2=node-2:…",
  KAFKA_PEERS: "every other node: 2=node-2:<clientPort>,…",
  RACK: "the node's rack (empty when none)",
};

export interface ProfileNode {
  nodeId: number;
  nodeCount: number;
  alias: string;
  advertised: { host: string; port: number };
  clusterId: string;
  rack?: string;
  /** Alias of every node of the cluster, by id. */
  aliases: Map<number, string>;
}

const isPort = (v: unknown) => Number.isInteger(v) && (v as number) > 0 && (v as number) < 65536;

/** Checks a parsed profile; throws one sentence naming the first problem. */
export function validateProfile(raw: unknown, source = "the profile"): ImageProfile {
  if (!raw || typeof raw !== "object" || Array.isArray(raw))
    throw new Error(`${source} must be a mapping with clientPort, dataDir and ready.`);
  const p = raw as Record<string, unknown>;
  const known = ["clientPort", "controllerPort", "dataDir", "ready", "command", "environment"];
  const unknown = Object.keys(p).filter((k) => !known.includes(k));
  if (unknown.length)
    throw new Error(`${source} has an unknown field "${unknown[0]}" (fields: ${known.join(", ")}).`);
  if (!isPort(p.clientPort)) throw new Error(`${source}: clientPort must be a port number (1-65535).`);
  if (p.controllerPort !== undefined && !isPort(p.controllerPort))
    throw new Error(`${source}: controllerPort must be a port number (1-65535).`);
  if (typeof p.dataDir !== "string" || !p.dataDir.startsWith("/"))
    throw new Error(`${source}: dataDir must be an absolute path in the container, such as /data.`);
  if (typeof p.ready !== "string" || !p.ready)
    throw new Error(`${source}: ready must be a log-line pattern.`);
  try {
    new RegExp(p.ready);
  } catch (err) {
    throw new Error(`${source}: ready is not a valid regular expression (${(err as Error).message}).`);
  }
  if (p.command !== undefined && (!Array.isArray(p.command) || p.command.some((a) => typeof a !== "string")))
    throw new Error(`${source}: command must be a list of strings.`);
  if (p.environment !== undefined) {
    if (!p.environment || typeof p.environment !== "object" || Array.isArray(p.environment))
      throw new Error(`${source}: environment must be a mapping of names to strings.`);
    for (const [k, v] of Object.entries(p.environment)) {
      if (typeof v !== "string" && typeof v !== "number")
        throw new Error(`${source}: environment ${k} must be a string.`);
    }
  }
  const profile: ImageProfile = {
    clientPort: p.clientPort as number,
    dataDir: p.dataDir,
    ready: p.ready,
    ...(p.controllerPort !== undefined ? { controllerPort: p.controllerPort as number } : {}),
    ...(p.command ? { command: p.command as string[] } : {}),
    ...(p.environment
      ? {
          environment: Object.fromEntries(
            Object.entries(p.environment as Record<string, unknown>).map(([k, v]) => [k, String(v)]),
          ),
        }
      : {}),
  };
  // every ${VAR} must be one we fill in, and the controller ones need controllerPort
  for (const text of [...(profile.command ?? []), ...Object.values(profile.environment ?? {})]) {
    for (const [, name] of text.matchAll(/\$\{([^}]*)\}/g)) {
      if (!(name in PROFILE_VARIABLES))
        throw new Error(
          `${source} uses \${${name}}, which is not a profile variable (variables: ${Object.keys(PROFILE_VARIABLES).join(", ")}).`,
        );
      if (["CONTROLLER_PORT", "VOTERS", "PEERS"].includes(name) && profile.controllerPort === undefined)
        throw new Error(`${source} uses \${${name}}, which needs controllerPort.`);
    }
  }
  return profile;
}

/** Reads and checks a profile file (YAML or JSON). */
export function loadProfile(path: string): ImageProfile {
  let text: string;
  try {
    text = readFileSync(path, "utf8");
  } catch {
    throw new Error(`The image profile ${path} cannot be read.`);
  }
  let raw: unknown;
  try {
    raw = parse(text);
  } catch (err) {
    throw new Error(
      `The image profile ${path} is not valid YAML or JSON: ${(err as Error).message.split("\n")[0]}`,
    );
  }
  return validateProfile(raw, `The image profile ${path}`);
}

/** The variables' values for one node. */
export function profileVariables(profile: ImageProfile, node: ProfileNode): Record<string, string> {
  const ids = [...node.aliases.keys()].sort((a, b) => a - b);
  const cp = profile.controllerPort;
  return {
    NODE_ID: String(node.nodeId),
    NODE_COUNT: String(node.nodeCount),
    ALIAS: node.alias,
    ADVERTISED: `${node.advertised.host}:${node.advertised.port}`,
    ADVERTISED_HOST: node.advertised.host,
    ADVERTISED_PORT: String(node.advertised.port),
    CLIENT_PORT: String(profile.clientPort),
    CONTROLLER_PORT: cp === undefined ? "" : String(cp),
    DATA_DIR: profile.dataDir,
    CLUSTER_ID: node.clusterId,
    VOTERS: ids.map((id) => `${id}@${node.aliases.get(id)}:${cp}`).join(","),
    PEERS: ids.map((id) => `${id}=${node.aliases.get(id)}:${cp}`).join(","),
    KAFKA_PEERS: ids
      .filter((id) => id !== node.nodeId)
      .map((id) => `${id}=${node.aliases.get(id)}:${profile.clientPort}`)
      .join(","),
    RACK: node.rack ?? "",
  };
}

/** Replaces every ${VAR} of the text. */
export function substitute(text: string, vars: Record<string, string>): string {
  return text.replace(/\$\{([^}]*)\}/g, (_, name: string) => vars[name] ?? "");
}

/** The command and environment of one node, variables filled in. */
export function renderProfile(
  profile: ImageProfile,
  node: ProfileNode,
): { command?: string[]; environment: Record<string, string> } {
  const vars = profileVariables(profile, node);
  return {
    ...(profile.command ? { command: profile.command.map((a) => substitute(a, vars)) } : {}),
    environment: Object.fromEntries(
      Object.entries(profile.environment ?? {}).map(([k, v]) => [k, substitute(v, vars)]),
    ),
  };
}
