// The docker backend's reaper (it stands in for testcontainers' Ryuk, whose image cannot be pulled
// here): one per docker cluster, started detached with its stdin a pipe from the harness.
//
//   node reaper.mjs RUN_ID [--cleanup PATH]...
//
// When stdin reaches EOF (the harness is gone, however it died), it removes every container,
// network and volume labelled gauntlet.run=RUN_ID through the docker CLI, deletes the --cleanup
// paths and exits. A line "done" on stdin means the harness cleaned up itself: exit at once.
// Signals sent to the terminal's process group do not reach it (own group) and SIGINT/SIGTERM are
// ignored, so a Ctrl-C'd harness is still cleaned up after. Plain JavaScript: plain node runs it.
import { execFileSync } from "node:child_process";
import { rmSync } from "node:fs";

const [runId, ...rest] = process.argv.slice(2);
if (!runId) {
  process.stderr.write("docker reaper: no run id given\n");
  process.exit(2);
}
const cleanup = [];
while (rest.length) {
  const flag = rest.shift();
  const value = rest.shift();
  if (flag === "--cleanup" && value) cleanup.push(value);
}
const filter = `label=gauntlet.run=${runId}`;

function docker(args) {
  try {
    return execFileSync("docker", args, {
      encoding: "utf8",
      stdio: ["ignore", "pipe", "ignore"],
      timeout: 60_000,
    });
  } catch {
    return "";
  }
}

function ids(text) {
  return text.split("\n").filter(Boolean);
}

function reap() {
  const containers = ids(docker(["ps", "-aq", "--filter", filter]));
  if (containers.length) docker(["rm", "-f", "-v", ...containers]);
  const networks = ids(docker(["network", "ls", "-q", "--filter", filter]));
  for (const network of networks) {
    // containers of another run (a cluster on the fault plane's network) may still be attached
    const attached = docker([
      "network",
      "inspect",
      "-f",
      "{{range $id, $c := .Containers}}{{$id}} {{end}}",
      network,
    ]);
    for (const container of attached.split(/\s+/).filter(Boolean))
      docker(["network", "disconnect", "-f", network, container]);
    docker(["network", "rm", network]);
  }
  const volumes = ids(docker(["volume", "ls", "-q", "--filter", filter]));
  if (volumes.length) docker(["volume", "rm", "-f", ...volumes]);
  for (const path of cleanup) rmSync(path, { recursive: true, force: true });
  process.exit(0);
}

for (const sig of ["SIGINT", "SIGTERM", "SIGHUP"]) process.on(sig, () => {});
let buffered = "";
process.stdin.setEncoding("utf8");
process.stdin.on("data", (chunk) => {
  buffered += chunk;
  if (buffered.split("\n").includes("done")) process.exit(0);
});
process.stdin.on("end", reap);
process.stdin.on("close", reap);
process.stdin.on("error", reap);
process.stdin.resume();
