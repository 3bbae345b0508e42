// Images for the docker backend, built from local parts only: no registry is reachable here, so
// every image starts `FROM scratch` (or from another image built here) with a build context
// assembled in a temporary directory under the cache dir (files hard-linked, copied when that
// fails). Each image is tagged with a hash of its inputs; an image whose tag exists is not rebuilt.
//
//   gauntlet/node-base      /usr/local/bin/node (the host's node) + the shared libraries it needs (ldd)
//   gauntlet/reference      node-base + broker/ + protocol/ + the node_modules they import (+ tsx)
//   gauntlet/toxiproxy      the cached toxiproxy-server + its libraries
//   gauntlet/kafka          the local JDK (JAVA_HOME of `java`) + its libraries + the cached Kafka jars
import { execFileSync } from "node:child_process";
import { createHash } from "node:crypto";
import {
  copyFileSync,
  existsSync,
  linkSync,
  mkdirSync,
  mkdtempSync,
  readdirSync,
  readFileSync,
  realpathSync,
  rmSync,
  statSync,
  writeFileSync,
} from "node:fs";
import { dirname, join, relative } from "node:path";
import { KAFKA_VERSION } from "../targets/kafka-version.ts";
import {
  CACHE_DIR,
  javaBin,
  kafkaLibsDir,
  REPO_ROOT,
  TOXIPROXY_VERSION,
  toxiproxyServerBin,
} from "../tools.ts";
import { loadTestcontainers } from "./engine.ts";

/** Paths inside the images. */
export const IMAGE_PATHS = {
  node: "/usr/local/bin/node",
  app: "/app",
  brokerMain: "/app/broker/src/main.ts",
  toxiproxy: "/usr/local/bin/toxiproxy-server",
  javaHome: "/opt/java",
  kafkaLibs: "/opt/kafka/libs",
} as const;

/** Label on every image built here (images are a cache shared by runs, not removed by cleanup). */
export const IMAGE_LABEL = "gauntlet.image";

const LIB_PATH = "/lib/x86_64-linux-gnu:/usr/lib/x86_64-linux-gnu:/lib64:/usr/lib64:/lib:/usr/lib";

/** A build context: files placed at their path inside the image, plus the Dockerfile. */
class Context {
  /** image path → host source (or inline content). */
  readonly files = new Map<string, { src?: string; content?: string; mode?: number }>();

  add(src: string, dest: string): void {
    this.files.set(dest, { src });
  }

  write(dest: string, content: string, mode?: number): void {
    this.files.set(dest, { content, mode });
  }

  /** Adds every regular file under `srcDir` (symlinks followed) at `destDir`, unless `skip` says so. */
  addTree(srcDir: string, destDir: string, skip: (rel: string) => boolean = () => false): void {
    const walk = (dir: string) => {
      for (const name of readdirSync(dir)) {
        const path = join(dir, name);
        const rel = relative(srcDir, path);
        if (skip(rel)) continue;
        let st: ReturnType<typeof statSync>;
        try {
          st = statSync(path); // follows symlinks; dangling ones are skipped
        } catch {
          continue;
        }
        if (st.isDirectory()) walk(path);
        else if (st.isFile()) this.add(path, join(destDir, rel));
      }
    };
    walk(srcDir);
  }

  /** Adds the shared libraries (and the dynamic loader) the given ELF files need, per ldd. */
  addLibraries(elfFiles: string[]): void {
    for (const lib of lddClosure(elfFiles)) if (!this.files.has(lib)) this.add(lib, lib);
  }

  /**
   * The content hash of the inputs: small files by content, large ones (binaries, jars, the JDK's
   * modules file) by size and mtime, which is enough for files that only change on reinstall.
   */
  hash(dockerfile: string): string {
    const h = createHash("sha256").update(dockerfile);
    for (const dest of [...this.files.keys()].sort()) {
      const f = this.files.get(dest)!;
      h.update(`\0${dest}\0`);
      if (f.content !== undefined) h.update(f.content).update(String(f.mode ?? ""));
      else {
        const st = statSync(f.src!);
        if (st.size < 1 << 20) h.update(readFileSync(f.src!));
        else h.update(`${st.size}:${Math.floor(st.mtimeMs)}`);
        h.update(String(st.mode & 0o111));
      }
    }
    return h.digest("hex").slice(0, 16);
  }

  /** Materializes the context (rootfs/ + Dockerfile) in a new directory and returns it. */
  materialize(dockerfile: string): string {
    const root = join(CACHE_DIR, "docker");
    mkdirSync(root, { recursive: true });
    const dir = mkdtempSync(join(root, "build-"));
    const rootfs = join(dir, "rootfs");
    mkdirSync(join(rootfs, "tmp"), { recursive: true });
    for (const [dest, f] of this.files) {
      const target = join(rootfs, dest);
      mkdirSync(dirname(target), { recursive: true });
      if (f.content !== undefined) writeFileSync(target, f.content, { mode: f.mode ?? 0o644 });
      else {
        const src = realpathSync(f.src!);
        try {
          linkSync(src, target);
        } catch {
          copyFileSync(src, target);
        }
      }
    }
    writeFileSync(join(dir, "Dockerfile"), dockerfile);
    return dir;
  }
}

/** The files ldd says the given ELF files load (absolute paths as ldd prints them), plus the loader. */
export function lddClosure(elfFiles: string[]): string[] {
  const libs = new Set<string>();
  for (const file of elfFiles) {
    let out: string;
    try {
      out = execFileSync("ldd", [file], { encoding: "utf8", stdio: ["ignore", "pipe", "ignore"] });
    } catch {
      continue; // not dynamic (static binary) or not an ELF file
    }
    for (const line of out.split("\n")) {
      const arrow = /=>\s+(\/\S+)\s+\(/.exec(line);
      if (arrow) libs.add(arrow[1]);
      else {
        const loader = /^\s*(\/\S+)\s+\(/.exec(line);
        if (loader) libs.add(loader[1]);
      }
    }
  }
  return [...libs].sort();
}

function baseFiles(ctx: Context): void {
  ctx.write(
    "/etc/passwd",
    "root:x:0:0:root:/root:/nonexistent\nnobody:x:65534:65534:nobody:/:/nonexistent\n",
  );
  ctx.write("/etc/group", "root:x:0:\nnogroup:x:65534:\n");
  ctx.write("/etc/nsswitch.conf", "hosts: files dns\npasswd: files\ngroup: files\n");
  ctx.write("/root/.keep", "");
}

export interface BuiltImage {
  tag: string;
  /** False when the tag existed already (nothing was built). */
  built: boolean;
  ms: number;
}

const inFlight = new Map<string, Promise<BuiltImage>>();

async function imageExists(tag: string): Promise<boolean> {
  const { getContainerRuntimeClient, ImageName } = await loadTestcontainers();
  const client = await getContainerRuntimeClient();
  return client.image.exists(ImageName.fromString(tag));
}

/** Removes the other tags of `repo` built here (older inputs); ones still used by a container stay. */
async function pruneOlder(repo: string, keep: string): Promise<void> {
  const { getContainerRuntimeClient } = await loadTestcontainers();
  const docker = (await getContainerRuntimeClient()).container.dockerode;
  const images = await docker.listImages({ filters: { label: [`${IMAGE_LABEL}=${repo}`] } });
  for (const image of images) {
    if ((image.RepoTags ?? []).includes(keep)) continue;
    await docker
      .getImage(image.Id)
      .remove()
      .catch(() => {}); // in use by a container (maybe another run's): keep it
  }
}

/**
 * Builds `repo:<hash>` from the context unless it exists. Uses the engine's classic builder
 * through testcontainers' dockerode (testcontainers' own fromDockerfile().build() drops the build
 * output, so a failing step would say nothing but "Failed to build image").
 */
async function ensureImage(repo: string, ctx: Context, dockerfile: string): Promise<BuiltImage> {
  const tag = `${repo}:${ctx.hash(dockerfile)}`;
  const pending = inFlight.get(tag);
  if (pending) return pending;
  const job = (async () => {
    const t0 = Date.now();
    if (await imageExists(tag)) return { tag, built: false, ms: Date.now() - t0 };
    const dir = ctx.materialize(dockerfile);
    try {
      const { getContainerRuntimeClient } = await loadTestcontainers();
      const client = await getContainerRuntimeClient();
      const docker = client.container.dockerode;
      const stream = await docker.buildImage(
        { context: dir, src: ["Dockerfile", "rootfs"] },
        { t: tag, rm: true, forcerm: true, labels: { [IMAGE_LABEL]: repo } },
      );
      const output: string[] = [];
      await new Promise<void>((resolve, reject) => {
        docker.modem.followProgress(
          stream,
          (err: Error | null) => (err ? reject(err) : resolve()),
          (event: { stream?: string; error?: string }) => {
            if (event.stream) output.push(event.stream);
          },
        );
      }).catch((err: Error) => {
        const tail = output.join("").trimEnd().split("\n").slice(-15).join("\n");
        throw new Error(`Building image ${tag} failed: ${err.message}\n${tail}`);
      });
      await pruneOlder(repo, tag);
      return { tag, built: true, ms: Date.now() - t0 };
    } finally {
      rmSync(dir, { recursive: true, force: true });
    }
  })();
  inFlight.set(tag, job);
  try {
    return await job;
  } finally {
    inFlight.delete(tag);
  }
}

// ---------------------------------------------------------------------------------------------
// Node runtime base and the reference broker

/** The host's node binary (the one running the harness). */
function hostNode(): string {
  return realpathSync(process.execPath);
}

export async function ensureNodeBaseImage(): Promise<BuiltImage> {
  const ctx = new Context();
  baseFiles(ctx);
  ctx.add(hostNode(), IMAGE_PATHS.node);
  ctx.addLibraries([hostNode()]);
  const dockerfile = [
    "# Generated by harness/docker/images.ts: the host's node runtime on an empty image.",
    "FROM scratch",
    "COPY rootfs/ /",
    `ENV LD_LIBRARY_PATH=${LIB_PATH} PATH=/usr/local/bin HOME=/root`,
    `ENTRYPOINT ["${IMAGE_PATHS.node}"]`,
    "",
  ].join("\n");
  return ensureImage("gauntlet/node-base", ctx, dockerfile);
}

/** Bare module specifiers (package names) imported by the .ts files under the given directories. */
function importedPackages(dirs: string[]): Set<string> {
  const names = new Set<string>();
  const re = /(?:from|import)\s*\(?\s*"([^".][^"]*)"/g;
  const walk = (dir: string) => {
    for (const name of readdirSync(dir)) {
      const path = join(dir, name);
      const st = statSync(path);
      if (st.isDirectory()) {
        if (name !== "test" && name !== "node_modules") walk(path);
      } else if (name.endsWith(".ts") && !name.endsWith(".test.ts")) {
        for (const m of readFileSync(path, "utf8").matchAll(re)) {
          const spec = m[1];
          if (spec.startsWith("node:")) continue;
          const parts = spec.split("/");
          names.add(spec.startsWith("@") ? parts.slice(0, 2).join("/") : parts[0]);
        }
      }
    }
  };
  for (const dir of dirs) walk(dir);
  return names;
}

/** The package directories (relative to the repo) needed to load `roots`, following dependencies. */
export function packageClosure(roots: Iterable<string>, repo = REPO_ROOT): string[] {
  const found = new Set<string>();
  const queue: { name: string; from: string }[] = [...roots].map((name) => ({ name, from: repo }));
  while (queue.length) {
    const { name, from } = queue.shift()!;
    // Node's lookup: node_modules next to the requiring package, then up the tree.
    let dir = from;
    let pkgDir: string | undefined;
    for (;;) {
      const candidate = join(dir, "node_modules", name);
      if (existsSync(join(candidate, "package.json"))) {
        pkgDir = candidate;
        break;
      }
      if (dir === repo || dir === dirname(dir)) break;
      dir = dirname(dir);
    }
    if (!pkgDir || found.has(pkgDir)) continue;
    found.add(pkgDir);
    const pkg = JSON.parse(readFileSync(join(pkgDir, "package.json"), "utf8")) as {
      dependencies?: Record<string, string>;
      optionalDependencies?: Record<string, string>;
    };
    for (const dep of Object.keys({ ...pkg.dependencies, ...pkg.optionalDependencies })) {
      queue.push({ name: dep, from: pkgDir });
    }
  }
  return [...found].map((p) => relative(repo, p)).sort();
}

export async function ensureReferenceImage(): Promise<BuiltImage> {
  const base = await ensureNodeBaseImage();
  const ctx = new Context();
  const app = IMAGE_PATHS.app;
  const codeDirs = [join(REPO_ROOT, "broker"), join(REPO_ROOT, "protocol")];
  const skip = (rel: string) =>
    rel === "test" || rel.startsWith("test/") || rel.endsWith(".test.ts") || rel === "node_modules";
  for (const dir of codeDirs) ctx.addTree(dir, join(app, relative(REPO_ROOT, dir)), skip);
  ctx.write(join(app, "package.json"), `${JSON.stringify({ name: "gauntlet-reference", type: "module" })}\n`);
  ctx.add(join(REPO_ROOT, "tsconfig.json"), join(app, "tsconfig.json"));
  const roots = importedPackages(codeDirs);
  roots.delete("vitest");
  roots.add("tsx");
  const natives: string[] = [];
  for (const pkg of packageClosure(roots)) {
    ctx.addTree(join(REPO_ROOT, pkg), join(app, pkg), (rel) => rel === "node_modules" || rel.endsWith(".md"));
  }
  for (const [dest, f] of ctx.files) if (dest.endsWith(".node") && f.src) natives.push(f.src);
  ctx.addLibraries(natives);
  const entry = [IMAGE_PATHS.node, "--import", "tsx", IMAGE_PATHS.brokerMain];
  const dockerfile = [
    "# Generated by harness/docker/images.ts: the reference broker on the local node runtime.",
    `FROM ${base.tag}`,
    "COPY rootfs/ /",
    `WORKDIR ${app}`,
    // Exec-form RUN needs no shell: load every module once so tsx's transform cache is in the image.
    `RUN ${JSON.stringify([...entry, "--help"])}`,
    `ENTRYPOINT ${JSON.stringify(entry)}`,
    "",
  ].join("\n");
  return ensureImage("gauntlet/reference", ctx, dockerfile);
}

// ---------------------------------------------------------------------------------------------
// Toxiproxy

export async function ensureToxiproxyImage(): Promise<BuiltImage> {
  const bin = toxiproxyServerBin();
  const ctx = new Context();
  baseFiles(ctx);
  ctx.add(bin, IMAGE_PATHS.toxiproxy);
  ctx.addLibraries([bin]); // empty for a static build
  const dockerfile = [
    `# Generated by harness/docker/images.ts: Toxiproxy ${TOXIPROXY_VERSION} from the locally built binary.`,
    "FROM scratch",
    "COPY rootfs/ /",
    `ENV LD_LIBRARY_PATH=${LIB_PATH}`,
    "EXPOSE 8474",
    `ENTRYPOINT ["${IMAGE_PATHS.toxiproxy}", "-host", "0.0.0.0", "-port", "8474"]`,
    "",
  ].join("\n");
  return ensureImage("gauntlet/toxiproxy", ctx, dockerfile);
}

// ---------------------------------------------------------------------------------------------
// Apache Kafka

/** JAVA_HOME of the `java` the harness uses (…/bin/java resolved through symlinks). */
export function localJavaHome(): string {
  return dirname(dirname(realpathSync(javaBin())));
}

export async function ensureKafkaImage(): Promise<BuiltImage> {
  const javaHome = localJavaHome();
  const libs = kafkaLibsDir();
  const ctx = new Context();
  baseFiles(ctx);
  // A JRE's worth of the JDK: the launcher and lib/, without sources, jmods, headers, docs, GUI bits
  // whose libraries are not installed, and the javac symbol table.
  const skipJdk = (rel: string) =>
    /^(jmods|include|man|docs|demo|legal)(\/|$)/.test(rel) ||
    /^lib\/(src\.zip|ct\.sym)$/.test(rel) ||
    (rel.startsWith("bin/") && rel !== "bin/java");
  ctx.addTree(javaHome, IMAGE_PATHS.javaHome, skipJdk);
  const elves = [...ctx.files.entries()]
    .filter(([dest]) => dest.endsWith(".so") || dest.endsWith("/bin/java"))
    .map(([, f]) => f.src!);
  // Libraries of the JDK's own .so files; GUI ones (awt_xawt, splashscreen, …) may need X11
  // libraries that are absent: ldd then prints "not found" for those, which are simply skipped.
  ctx.addLibraries(elves);
  ctx.addTree(libs, IMAGE_PATHS.kafkaLibs, (rel) => !rel.endsWith(".jar"));
  const dockerfile = [
    `# Generated by harness/docker/images.ts: Apache Kafka ${KAFKA_VERSION} on the local JDK.`,
    "FROM scratch",
    "COPY rootfs/ /",
    `ENV LD_LIBRARY_PATH=${LIB_PATH} JAVA_HOME=${IMAGE_PATHS.javaHome} HOME=/root`,
    `ENTRYPOINT ["${IMAGE_PATHS.javaHome}/bin/java"]`,
    "",
  ].join("\n");
  return ensureImage("gauntlet/kafka", ctx, dockerfile);
}
