/**
 * Generates the Kafka protocol codec in protocol/generated/ from the Apache Kafka message specs.
 *
 *   tsx protocol/generator/generate.ts [--specs DIR] [--metadata-specs DIR] [--check]
 *
 * --specs defaults to ../shared/kafka-protocol/message relative to the repository root; the
 * metadata record specs default to the sibling `metadata` directory. Output is formatted with the
 * repository's Biome config before it is written, so `--check` (regenerate in memory, compare with
 * the committed files, exit 1 listing drifted files) and `biome ci` agree.
 */
import { execFileSync } from "node:child_process";
import {
  existsSync,
  mkdirSync,
  mkdtempSync,
  readdirSync,
  readFileSync,
  rmSync,
  writeFileSync,
} from "node:fs";
import { tmpdir } from "node:os";
import { dirname, join, relative, resolve } from "node:path";
import { fileURLToPath } from "node:url";
import { HEADER_LINE, MessageEmitter } from "./emit.ts";
import { emitIndex, emitMetadataIndex } from "./index-module.ts";
import { loadSpecDir, type MessageModel } from "./spec.ts";

const REPO_ROOT = resolve(dirname(fileURLToPath(import.meta.url)), "../..");
const OUT_DIR = join(REPO_ROOT, "protocol/generated");

interface Options {
  specs: string;
  metadataSpecs: string;
  check: boolean;
}

function parseArgs(argv: string[]): Options {
  let specs = resolve(REPO_ROOT, "../shared/kafka-protocol/message");
  let metadataSpecs: string | undefined;
  let check = false;
  for (let i = 0; i < argv.length; i++) {
    const a = argv[i];
    if (a === "--check") check = true;
    else if (a === "--specs") specs = resolve(argv[++i] ?? "");
    else if (a === "--metadata-specs") metadataSpecs = resolve(argv[++i] ?? "");
    else throw new Error(`unknown argument ${a}`);
  }
  return { specs, metadataSpecs: metadataSpecs ?? resolve(specs, "../metadata"), check };
}

/** Every generated file, path relative to protocol/generated → unformatted source. */
export function generateSources(specDir: string, metadataDir: string | null): Map<string, string> {
  const files = new Map<string, string>();
  const models: MessageModel[] = loadSpecDir(specDir);
  for (const m of models) files.set(`${m.fileBase}.ts`, new MessageEmitter(m).emitModule());
  files.set("index.ts", emitIndex(models));
  if (metadataDir && existsSync(metadataDir)) {
    const records = loadSpecDir(metadataDir);
    for (const m of records) files.set(`metadata/${m.fileBase}.ts`, new MessageEmitter(m).emitModule());
    files.set("metadata/index.ts", emitMetadataIndex(records));
  }
  return files;
}

/** Formats sources with the repository's Biome config (format + safe fixes such as import order). */
function formatWithBiome(files: Map<string, string>): Map<string, string> {
  const dir = mkdtempSync(join(tmpdir(), "gauntlet-codegen-"));
  try {
    for (const [name, text] of files) {
      mkdirSync(dirname(join(dir, name)), { recursive: true });
      writeFileSync(join(dir, name), text);
    }
    const biome = join(REPO_ROOT, "node_modules/.bin/biome");
    // A throwaway config that extends nothing: copy the repo's settings but not its VCS/ignore rules,
    // which would not apply to a directory outside the repository.
    const config = JSON.parse(readFileSync(join(REPO_ROOT, "biome.json"), "utf8")) as Record<string, unknown>;
    delete config.vcs;
    delete config.$schema;
    config.files = { includes: ["**/*.ts"] };
    writeFileSync(join(dir, "biome.json"), `${JSON.stringify(config, null, 2)}\n`);
    const run = (args: string[]) =>
      execFileSync(biome, [...args, "--colors=off", "."], { cwd: dir, stdio: ["ignore", "pipe", "pipe"] });
    run(["check", "--write"]);
    // The generated code must pass `biome ci` as committed: fail generation on any leftover diagnostic.
    run(["ci", "--error-on-warnings"]);
    const out = new Map<string, string>();
    for (const name of files.keys()) out.set(name, readFileSync(join(dir, name), "utf8"));
    return out;
  } catch (e) {
    const { stdout, stderr } = e as { stdout?: Buffer; stderr?: Buffer };
    const detail = `${stdout?.toString() ?? ""}${stderr?.toString() ?? ""}`.trim();
    throw new Error(`biome failed on generated code:\n${detail || String(e)}`);
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
}

/** Generated files currently on disk (those starting with the generator's header line). */
function existingGenerated(): Map<string, string> {
  const found = new Map<string, string>();
  const walk = (dir: string) => {
    if (!existsSync(dir)) return;
    for (const entry of readdirSync(dir, { withFileTypes: true })) {
      const p = join(dir, entry.name);
      if (entry.isDirectory()) walk(p);
      else if (entry.name.endsWith(".ts")) {
        const text = readFileSync(p, "utf8");
        if (text.startsWith(HEADER_LINE)) found.set(relative(OUT_DIR, p), text);
      }
    }
  };
  walk(OUT_DIR);
  return found;
}

function main(): void {
  const opts = parseArgs(process.argv.slice(2));
  if (!existsSync(opts.specs)) {
    console.log(`Kafka message specs not found at ${opts.specs}; skipping code generation.`);
    return;
  }
  const started = Date.now();
  const formatted = formatWithBiome(generateSources(opts.specs, opts.metadataSpecs));
  const current = existingGenerated();
  if (opts.check) {
    const drifted: string[] = [];
    for (const [name, text] of formatted) {
      if (current.get(name) !== text)
        drifted.push(current.has(name) ? `${name} (differs)` : `${name} (missing)`);
    }
    for (const name of current.keys())
      if (!formatted.has(name)) drifted.push(`${name} (stale, not generated)`);
    if (drifted.length > 0) {
      console.error(`Generated protocol code is out of date (${drifted.length} files); run npm run codegen:`);
      for (const d of drifted.sort()) console.error(`  protocol/generated/${d}`);
      process.exitCode = 1;
      return;
    }
    console.log(`protocol/generated is up to date (${formatted.size} files, ${Date.now() - started} ms).`);
    return;
  }
  let written = 0;
  for (const [name, text] of formatted) {
    if (current.get(name) === text) continue;
    const p = join(OUT_DIR, name);
    mkdirSync(dirname(p), { recursive: true });
    writeFileSync(p, text);
    written++;
  }
  let removed = 0;
  for (const name of current.keys()) {
    if (!formatted.has(name)) {
      rmSync(join(OUT_DIR, name));
      removed++;
    }
  }
  console.log(
    `Generated ${formatted.size} files into protocol/generated (${written} written, ${removed} removed, ${Date.now() - started} ms).`,
  );
}

// Only run when executed as a script, so tests may import generateSources.
if (process.argv[1] && resolve(process.argv[1]) === fileURLToPath(import.meta.url)) main();
