/**
 * Entry point: `npm run broker -- --node-id 1 --listen 127.0.0.1:9092 --data-dir <dir> ...`.
 * Bad settings → one sentence on stderr and exit code 2. SIGTERM/SIGINT → graceful stop, exit 0.
 */
import pino from "pino";
import { Broker } from "./broker.ts";
import { ConfigError, HelpRequested, resolveSettings } from "./config.ts";

async function main(): Promise<void> {
  let settings: ReturnType<typeof resolveSettings>;
  try {
    settings = resolveSettings(process.argv.slice(2));
  } catch (e) {
    if (e instanceof HelpRequested) process.exit(0);
    if (e instanceof ConfigError) {
      process.stderr.write(`broker: ${e.message}\n`);
      process.exit(2);
    }
    throw e;
  }
  const log = pino({ level: settings.logLevel, base: { node: settings.nodeId } });
  const broker = new Broker(settings, log);
  let stopping = false;
  // Cluster mode: a duplicate node id or another cluster's data is fatal: stop serving, exit 2.
  broker.onFatal = (message) => {
    if (stopping) return;
    stopping = true;
    process.stderr.write(`broker: ${message}.\n`);
    broker.stop().finally(() => process.exit(2));
  };
  const shutdown = (signal: string): void => {
    if (stopping) return;
    stopping = true;
    log.info({ signal }, "signal received");
    broker.stop().then(
      () => process.exit(0),
      (e: unknown) => {
        log.fatal({ err: e }, "shutdown failed");
        process.exit(1);
      },
    );
  };
  process.on("SIGTERM", () => shutdown("SIGTERM"));
  process.on("SIGINT", () => shutdown("SIGINT"));
  try {
    await broker.start();
  } catch (e) {
    const err = e as NodeJS.ErrnoException;
    if (err.code === "EADDRINUSE" || err.code === "EACCES" || err.code === "EADDRNOTAVAIL") {
      process.stderr.write(`broker: cannot listen: ${err.message}.\n`);
      process.exit(2);
    }
    if (
      err.name === "StorageIdentityError" ||
      err.name === "ClusterIdentityError" ||
      err.name === "ClusterFatalError"
    ) {
      log.fatal({ dataDir: settings.dataDir }, err.message);
      process.stderr.write(`broker: ${err.message}.\n`);
      process.exit(2);
    }
    if (e instanceof ConfigError) {
      // Settings that only turn out unusable at start (--peer-discovery found no voters in time);
      // a signal while discovery waits stops it too, and `shutdown` exits.
      if (stopping) return;
      log.fatal(e.message);
      process.stderr.write(`broker: ${e.message}\n`);
      process.exit(2);
    }
    log.fatal({ err: e }, "broker failed to start");
    process.exit(1);
  }
}

void main();
