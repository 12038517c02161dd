// Runs in Node (imported by vitest.config.ts): a miniflare service binding, TEST_ARTIFACTS, through which
// Worker tests read model artifacts on disk (.cache/artifacts/<name>/<file>, and the shipped default
// models/default as the name "shipped") and put them into the real local R2 bucket. GET /fixture/<name>/<set>?ways=&shots=&seed= runs scripts/eval_reference.py
// (the Python reference accuracy of one episode) once per artifact and caches its JSON beside it.
import { execFileSync } from "node:child_process";
import { existsSync, readFileSync, writeFileSync } from "node:fs";
import { resolve } from "node:path";

const ROOT = resolve(import.meta.dirname, "../..");
const ARTIFACTS = resolve(ROOT, ".cache/artifacts");
const SAFE = /^[A-Za-z0-9_.-]+$/;
/** The shipped default artifact, committed to the repository (scripts/artifact.mjs). */
export const SHIPPED = "shipped";
const artifactDir = (name: string) => (name === SHIPPED ? resolve(ROOT, "models/default") : resolve(ARTIFACTS, name));

/** The artifact the Worker tests use: the smoke build, or ADAPTAGENT_TEST_ARTIFACT. */
export const testArtifactName = process.env.ADAPTAGENT_TEST_ARTIFACT ?? "smoke";

function python(): string {
  const venv = resolve(ROOT, ".venv/bin/python");
  return existsSync(venv) ? venv : "python3";
}

export async function serveArtifacts(request: Request): Promise<Response> {
  const url = new URL(request.url);
  const parts = url.pathname.split("/").filter(Boolean);
  if (!parts.every((p) => SAFE.test(p) && p !== "..")) return new Response("bad path", { status: 400 });
  if (parts[0] === "fixture" && parts.length === 3) {
    const [, name, set] = parts as [string, string, string];
    const q = url.searchParams;
    const ways = q.get("ways") ?? "10";
    const shots = q.get("shots") ?? "5";
    const seed = q.get("seed") ?? "0";
    if (![ways, shots, seed].every((v) => /^\d+$/.test(v))) return new Response("bad query", { status: 400 });
    const dir = artifactDir(name);
    const manifest = readFileSync(resolve(dir, "manifest.json"), "utf8");
    const cacheFile = resolve(ARTIFACTS, `${name}.${set}-${ways}w${shots}s${seed}.json`);
    const version = (JSON.parse(manifest) as { version: string }).version;
    if (existsSync(cacheFile) && (JSON.parse(readFileSync(cacheFile, "utf8")) as { setting: { model_version: string } }).setting.model_version === version) {
      return new Response(readFileSync(cacheFile));
    }
    const dataDir = resolve(process.env.ADAPTAGENT_DATA_DIR ?? resolve(ROOT, "../shared/data"), set);
    const out = execFileSync(
      python(),
      [resolve(ROOT, "scripts/eval_reference.py"), "--artifact", dir, "--data", dataDir, "--ways", ways, "--shots", shots, "--seed", seed],
      { maxBuffer: 64 << 20, env: { ...process.env, OMP_NUM_THREADS: "2" } },
    );
    writeFileSync(cacheFile, out);
    return new Response(out);
  }
  const [name, ...rest] = parts;
  if (!name || rest.length === 0) return new Response("not found", { status: 404 });
  const dir = artifactDir(name);
  const file = resolve(dir, ...rest);
  if (!file.startsWith(dir + "/") || !existsSync(file)) return new Response("not found", { status: 404 });
  return new Response(readFileSync(file));
}
