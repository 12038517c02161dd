#!/usr/bin/env node
// npm run check:deploy: what `wrangler deploy` would upload, measured against Cloudflare's published
// Workers limits (docs/deploy.md lists them with their sources): the bundle's size (wrangler deploy
// --dry-run) and its startup time (wrangler check startup: the global scope's CPU profile, run locally).
// Needs no Cloudflare account. Prints one JSON object; exits 1 when a limit is exceeded.
import { execFileSync } from "node:child_process";
import { readdirSync, readFileSync, rmSync, statSync } from "node:fs";
import { join } from "node:path";
import { gzipSync } from "node:zlib";
import { ROOT, WRANGLER } from "./wrangler.mjs";

// Workers limits, as published at https://developers.cloudflare.com/workers/platform/limits/ (read
// 2026-12-01): one Worker size limit of 64 MiB uncompressed on every plan (the former 3 MB / 10 MB
// compressed limits were removed in 2026), startup (parse + global scope) 1 s, 25 MiB per static asset.
export const LIMITS = { workerBytes: 64 * 1024 * 1024, startupMs: 1000, assetBytes: 25 * 1024 * 1024 };

const out = join(ROOT, ".cache", "deploy");
rmSync(out, { recursive: true, force: true });
const run = (args) => execFileSync(WRANGLER, args, { cwd: ROOT, encoding: "utf8", env: { ...process.env, CI: "1" }, stdio: ["ignore", "pipe", "pipe"] });
execFileSync(process.execPath, [join(ROOT, "scripts", "build-assets.mjs")], { cwd: ROOT, stdio: "inherit" });

run(["deploy", "--dry-run", "--outdir", out]);
const files = readdirSync(out).filter((f) => !f.endsWith(".map") && f !== "README.md");
const bytes = files.reduce((n, f) => n + statSync(join(out, f)).size, 0);
const gzip = files.reduce((n, f) => n + gzipSync(readFileSync(join(out, f)), { level: 9 }).length, 0);

// Startup: the CPU profile of evaluating the Worker's global scope (idle samples excluded).
const profile = join(out, "startup.cpuprofile");
run(["check", "startup", "--outfile", profile]);
const p = JSON.parse(readFileSync(profile, "utf8"));
const idle = new Set(p.nodes.filter((n) => n.callFrame.functionName === "(idle)").map((n) => n.id));
const startupMs = p.samples.reduce((ms, id, i) => (idle.has(id) ? ms : ms + p.timeDeltas[i] / 1000), 0);

const assetDir = join(ROOT, "public", "graphiql", "assets");
const largestAsset = Math.max(...readdirSync(assetDir).map((f) => statSync(join(assetDir, f)).size));
const result = {
  worker: { files, bytes, gzip_bytes: gzip, limit_bytes: LIMITS.workerBytes, ok: bytes <= LIMITS.workerBytes },
  startup: { ms: Number(startupMs.toFixed(1)), limit_ms: LIMITS.startupMs, ok: startupMs <= LIMITS.startupMs,
    note: "measured locally by wrangler check startup; Cloudflare's CPUs differ" },
  static_assets: { largest_bytes: largestAsset, limit_bytes: LIMITS.assetBytes, ok: largestAsset <= LIMITS.assetBytes },
};
console.log(JSON.stringify(result, null, 2));
if (!result.worker.ok || !result.startup.ok || !result.static_assets.ok) {
  console.error("check:deploy: a Cloudflare Workers limit is exceeded (see above)");
  process.exit(1);
}
