// Loopback port helpers: free ports for nodes, clear errors for ports already taken, and checks that
// nothing listens any more after a cluster stopped.
import { readFileSync } from "node:fs";
import { createConnection, createServer, type Server } from "node:net";

export const LOOPBACK = "127.0.0.1";

function listen(port: number, host: string): Promise<Server> {
  return new Promise((resolve, reject) => {
    const server = createServer();
    server.once("error", reject);
    server.listen({ port, host, exclusive: true }, () => resolve(server));
  });
}

function close(server: Server): Promise<void> {
  return new Promise((resolve) => server.close(() => resolve()));
}

/**
 * `count` distinct free ports on `host`, found by binding port 0 and releasing it. Another process
 * can take a port between this and the broker binding it; callers retry on "address in use".
 */
export async function allocatePorts(count: number, host = LOOPBACK): Promise<number[]> {
  const servers: Server[] = [];
  try {
    for (let i = 0; i < count; i++) servers.push(await listen(0, host));
    return servers.map((s) => {
      const addr = s.address();
      if (!addr || typeof addr === "string") throw new Error("Cannot read the address of a bound socket.");
      return addr.port;
    });
  } finally {
    await Promise.all(servers.map(close));
  }
}

/** Throws one clear sentence when a port someone asked for explicitly is already in use. */
export async function assertPortsFree(ports: number[], host = LOOPBACK): Promise<void> {
  for (const port of ports) {
    let server: Server;
    try {
      server = await listen(port, host);
    } catch (err) {
      const code = (err as NodeJS.ErrnoException).code;
      if (code === "EADDRINUSE") {
        throw new Error(
          `Port ${port} on ${host} is already in use: stop what listens there or choose another port (or omit it to get a free one).`,
        );
      }
      throw new Error(`Port ${port} on ${host} cannot be used (${code ?? String(err)}).`);
    }
    await close(server);
  }
}

/** Ports in LISTEN state according to /proc/net/tcp and /proc/net/tcp6 (Linux). */
export function listeningPorts(): Set<number> {
  const ports = new Set<number>();
  for (const file of ["/proc/net/tcp", "/proc/net/tcp6"]) {
    let text: string;
    try {
      text = readFileSync(file, "utf8");
    } catch {
      continue;
    }
    for (const line of text.split("\n").slice(1)) {
      const fields = line.trim().split(/\s+/);
      if (fields.length < 4 || fields[3] !== "0A") continue; // 0A = TCP_LISTEN
      ports.add(Number.parseInt(fields[1].split(":")[1], 16));
    }
  }
  return ports;
}

/** Whether something accepts TCP connections on host:port (within timeoutMs). */
export function canConnect(port: number, host = LOOPBACK, timeoutMs = 1000): Promise<boolean> {
  return new Promise((resolve) => {
    const socket = createConnection({ port, host });
    const done = (ok: boolean) => {
      socket.destroy();
      resolve(ok);
    };
    socket.setTimeout(timeoutMs, () => done(false));
    socket.once("connect", () => done(true));
    socket.once("error", () => done(false));
  });
}
