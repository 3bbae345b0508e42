// The compose command of this machine: the `docker compose` plugin when the docker CLI has it, else
// Debian's standalone `docker-compose` (1.29, what `npm run setup` installs here: no plugin exists in
// Debian 12). Both read the top-level docker-compose.yml the same way.
import { spawnSync } from "node:child_process";

/** The argv prefix that runs compose, or undefined when neither form is installed. */
export function composeCommand(): string[] | undefined {
  const plugin = spawnSync("docker", ["compose", "version"], { encoding: "utf8" });
  if (plugin.status === 0) return ["docker", "compose"];
  const standalone = spawnSync("docker-compose", ["version", "--short"], { encoding: "utf8" });
  if (standalone.status === 0) return ["docker-compose"];
  return undefined;
}

/** The compose version line, or undefined when compose is missing. */
export function composeVersion(): string | undefined {
  const cmd = composeCommand();
  if (!cmd) return undefined;
  const r = spawnSync(cmd[0], [...cmd.slice(1), "version", "--short"], { encoding: "utf8" });
  return r.status === 0 ? `${cmd.join(" ")} ${r.stdout.trim()}` : undefined;
}
