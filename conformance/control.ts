// A tiny HTTP control plane on 127.0.0.1 so tests (in vitest workers) can ask the process that owns the
// Cluster (the CLI or the global setup) to kill or restart a node: POST /kill/<nodeId>,
// POST /restart/<nodeId> (also starts a killed node), GET /nodes.
import { createServer, type Server } from "node:http";
import type { AddressInfo } from "node:net";
import type { Cluster } from "../harness/cluster/index.ts";

export interface ControlServer {
  url: string;
  close(): Promise<void>;
}

export async function startControlServer(cluster: Cluster): Promise<ControlServer> {
  let busy = Promise.resolve();
  const server: Server = createServer((req, res) => {
    const reply = (status: number, body: unknown) => {
      res.writeHead(status, { "content-type": "application/json" });
      res.end(JSON.stringify(body));
    };
    const action = req.method === "POST" && req.url?.match(/^\/(restart|kill)\/(\d+)$/);
    if (action) {
      const nodeId = Number(action[2]);
      const t0 = Date.now();
      busy = busy
        .then(() => (action[1] === "kill" ? cluster.kill(nodeId) : cluster.restart(nodeId)))
        .then(
          () => reply(200, { ok: true, ms: Date.now() - t0 }),
          (err) => reply(500, { ok: false, error: (err as Error).message }),
        );
      return;
    }
    if (req.method === "GET" && req.url === "/nodes") {
      reply(200, cluster.nodes());
      return;
    }
    reply(404, { ok: false, error: "unknown control request" });
  });
  await new Promise<void>((resolve) => server.listen(0, "127.0.0.1", resolve));
  const { port } = server.address() as AddressInfo;
  return {
    url: `http://127.0.0.1:${port}`,
    close: () => new Promise<void>((resolve) => server.close(() => resolve())),
  };
}

/** Restarts a node through the control server (throws with the server's reason on failure). */
export async function restartNode(controlUrl: string, nodeId: number): Promise<void> {
  const res = await fetch(`${controlUrl}/restart/${nodeId}`, { method: "POST" });
  const body = (await res.json()) as { ok: boolean; error?: string };
  if (!body.ok) throw new Error(`restart of node ${nodeId} failed: ${body.error}`);
}

/** SIGKILLs a node through the control server. */
export async function killNode(controlUrl: string, nodeId: number): Promise<void> {
  const res = await fetch(`${controlUrl}/kill/${nodeId}`, { method: "POST" });
  const body = (await res.json()) as { ok: boolean; error?: string };
  if (!body.ok) throw new Error(`kill of node ${nodeId} failed: ${body.error}`);
}
