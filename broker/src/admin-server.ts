/** The admin HTTP endpoint: GET /health (200 while serving, 503 otherwise) and GET /metrics (Prometheus). */
import { createServer, type Server } from "node:http";
import type { AddressInfo } from "node:net";
import type { Logger } from "pino";
import type { BrokerMetrics } from "./metrics.ts";

export class AdminServer {
  private server: Server | undefined;

  constructor(
    private readonly metrics: BrokerMetrics,
    private readonly isServing: () => boolean,
    private readonly log: Logger,
  ) {}

  async start(host: string, port: number): Promise<AddressInfo> {
    const server = createServer((req, res) => {
      const path = (req.url ?? "/").split("?")[0];
      if (req.method !== "GET" && req.method !== "HEAD") {
        res.writeHead(405, { allow: "GET, HEAD" }).end();
        return;
      }
      if (path === "/health") {
        const ok = this.isServing();
        res.writeHead(ok ? 200 : 503, { "content-type": "application/json" });
        res.end(JSON.stringify({ status: ok ? "serving" : "unavailable" }));
        return;
      }
      if (path === "/metrics") {
        this.metrics.registry.metrics().then(
          (text) => {
            res.writeHead(200, { "content-type": this.metrics.registry.contentType });
            res.end(text);
          },
          (e: unknown) => {
            this.log.error({ err: e }, "metrics collection failed");
            res.writeHead(500).end();
          },
        );
        return;
      }
      res.writeHead(404, { "content-type": "text/plain" }).end("not found\n");
    });
    server.keepAliveTimeout = 1000;
    this.server = server;
    await new Promise<void>((resolve, reject) => {
      server.once("error", reject);
      server.listen(port, host, () => {
        server.off("error", reject);
        resolve();
      });
    });
    return server.address() as AddressInfo;
  }

  async stop(): Promise<void> {
    const server = this.server;
    if (!server) return;
    this.server = undefined;
    await new Promise<void>((resolve) => {
      server.close(() => resolve());
      server.closeAllConnections();
    });
  }
}
