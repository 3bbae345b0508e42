// The `external` target: a cluster someone else runs, reached through its bootstrap servers. Gauntlet
// can talk to it but cannot control its nodes, so every lifecycle fault throws one clear sentence.
import { probeMetadata } from "../cluster/kafka-probe.ts";
import type { Address, Cluster, NodeInfo, TerminateResult } from "../cluster/types.ts";

export interface ExternalClusterOptions {
  /** Comma-separated host:port list. */
  bootstrapServers: string;
}

export function parseBootstrap(list: string): Address[] {
  const addresses = list
    .split(",")
    .map((s) => s.trim())
    .filter(Boolean)
    .map((entry) => {
      const i = entry.lastIndexOf(":");
      const port = Number(entry.slice(i + 1));
      if (i <= 0 || !Number.isInteger(port) || port <= 0 || port > 65535) {
        throw new Error(`"${entry}" is not a host:port bootstrap address.`);
      }
      return { host: entry.slice(0, i).replace(/^\[(.*)\]$/, "$1"), port };
    });
  if (!addresses.length) throw new Error("The external target needs bootstrap servers (host:port,...).");
  return addresses;
}

export class ExternalCluster implements Cluster {
  readonly target = "external";
  private readonly addresses: Address[];
  private known: NodeInfo[] = [];

  constructor(private readonly options: ExternalClusterOptions) {
    this.addresses = parseBootstrap(options.bootstrapServers);
  }

  private unsupported(what: string): never {
    throw new Error(
      `The external target cannot ${what}: its nodes are run outside Gauntlet; use the kafka or reference target for faults that need node control.`,
    );
  }

  /** Checks that a bootstrap server answers and learns the brokers from its Metadata. */
  async start(): Promise<void> {
    const problems: string[] = [];
    for (const { host, port } of this.addresses) {
      try {
        const md = await probeMetadata(host, port, 5000);
        this.known = md.brokers.map((b) => ({
          nodeId: b.nodeId,
          host: b.host,
          port: b.port,
          advertisedHost: b.host,
          advertisedPort: b.port,
          running: true,
          paused: false,
          dataDir: "",
          logFile: "",
          rack: b.rack ?? undefined,
          roles: ["broker"],
        }));
        return;
      } catch (err) {
        problems.push(`${host}:${port}: ${(err as Error).message}`);
      }
    }
    throw new Error(`No bootstrap server of the external cluster answered (${problems.join("; ")}).`);
  }

  async stop(): Promise<void> {
    // Nothing was started here.
  }

  nodes(): NodeInfo[] {
    return this.known.map((n) => ({ ...n }));
  }

  bootstrapServers(): string {
    return this.options.bootstrapServers;
  }

  async kill(nodeId: number): Promise<void> {
    this.unsupported(`kill node ${nodeId}`);
  }

  async terminate(nodeId: number): Promise<TerminateResult> {
    this.unsupported(`terminate node ${nodeId}`);
  }

  async pause(nodeId: number): Promise<void> {
    this.unsupported(`pause node ${nodeId}`);
  }

  async resume(nodeId: number): Promise<void> {
    this.unsupported(`resume node ${nodeId}`);
  }

  async restart(nodeId: number): Promise<void> {
    this.unsupported(`restart node ${nodeId}`);
  }

  async wipe(nodeId: number): Promise<void> {
    this.unsupported(`wipe node ${nodeId}`);
  }

  async logs(nodeId: number): Promise<string> {
    this.unsupported(`read the logs of node ${nodeId}`);
  }

  async addNode(): Promise<NodeInfo> {
    this.unsupported("add a node");
  }
}
