// The reaper: a tiny wrapper between the harness and every process it starts, so that nothing
// outlives the harness, even when the harness is SIGKILLed and runs no cleanup code at all.
//
//   node reaper.mjs [--cleanup PATH]... [--rmdir-if-empty PATH]... -- COMMAND [ARG]...
//
// The supervisor spawns the reaper as the leader of a new process group, with stdin a pipe from the
// supervisor and fd 3 a pipe back to it. The reaper starts COMMAND in the same group (stdout and
// stderr inherited, i.e. the node's log file) and then:
//   - writes {"pid": N} to fd 3 once COMMAND runs, and {"exit": code, "signal": sig} when it exits;
//   - forwards SIGTERM, SIGINT and SIGHUP sent to the reaper itself to COMMAND;
//   - exits with COMMAND (status 0: the real status went to fd 3);
//   - when stdin reaches EOF, i.e. the supervisor's process is gone however it died: SIGKILLs COMMAND
//     and the rest of its process group, deletes the --cleanup paths and removes the --rmdir-if-empty
//     directories when they are empty.
// Written as plain JavaScript so that plain `node` runs it without a loader.
import { spawn } from "node:child_process";
import { rmdirSync, rmSync, writeSync } from "node:fs";

const argv = process.argv.slice(2);
const cleanup = [];
const rmdirIfEmpty = [];
while (argv.length && argv[0] !== "--") {
  const flag = argv.shift();
  const value = argv.shift();
  if (flag === "--cleanup" && value) cleanup.push(value);
  else if (flag === "--rmdir-if-empty" && value) rmdirIfEmpty.push(value);
  else {
    process.stderr.write(`reaper: unknown argument ${flag}\n`);
    process.exit(2);
  }
}
argv.shift();
const [command, ...args] = argv;
if (!command) {
  process.stderr.write("reaper: no command given\n");
  process.exit(2);
}

function report(message) {
  try {
    writeSync(3, `${JSON.stringify(message)}\n`);
  } catch {
    // The supervisor is gone; stdin EOF handles that.
  }
}

let exited = false;
const child = spawn(command, args, { stdio: ["ignore", "inherit", "inherit"] });

child.on("error", (err) => {
  report({ error: err.message });
  process.stderr.write(`reaper: cannot start ${command}: ${err.message}\n`);
  process.exit(1);
});

child.on("spawn", () => report({ pid: child.pid }));

child.on("exit", (code, signal) => {
  exited = true;
  report({ exit: code, signal });
  process.exit(0);
});

for (const sig of ["SIGTERM", "SIGINT", "SIGHUP"]) {
  process.on(sig, () => {
    if (!exited && child.pid) {
      try {
        process.kill(child.pid, sig);
      } catch {
        // Already gone.
      }
    }
  });
}

let gone = false;
function parentGone() {
  if (gone) return;
  gone = true;
  if (!exited && child.pid) {
    try {
      process.kill(child.pid, "SIGKILL");
    } catch {
      // Already gone.
    }
  }
  const finish = () => {
    for (const path of cleanup) rmSync(path, { recursive: true, force: true });
    for (const dir of rmdirIfEmpty) {
      try {
        rmdirSync(dir);
      } catch {
        // Not empty (another node still uses it) or already gone.
      }
    }
    // Anything else COMMAND started in this group, and the reaper itself.
    try {
      process.kill(-process.pid, "SIGKILL");
    } catch {
      process.exit(0);
    }
  };
  // Reap COMMAND first so that its pid is gone when the reaper exits.
  if (exited || !child.pid) finish();
  else {
    child.removeAllListeners("exit");
    child.on("exit", finish);
    setTimeout(finish, 5000).unref();
  }
}

process.stdin.on("end", parentGone);
process.stdin.on("close", parentGone);
process.stdin.on("error", parentGone);
process.stdin.resume();
