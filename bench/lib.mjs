// Shared helpers of the edge benchmarks: statistics, the machine's description, workerd's memory.
import { execFileSync, spawn } from "node:child_process";
import { createHash, randomBytes, randomUUID } from "node:crypto";
import { mkdirSync, readFileSync, rmSync, writeFileSync } from "node:fs";
import { cpus, loadavg, totalmem } from "node:os";
import { resolve } from "node:path";
import { describeArtifact, publishArtifact, resolveArtifact, verifyArtifact } from "../scripts/artifact.mjs";
import { watchedFetch, workerdPids } from "../scripts/worker-client.mjs";
import { V8_FLAGS } from "../scripts/workerd-guard/guard.mjs";

export const ROOT = resolve(import.meta.dirname, "..");
/** The data sets, as everywhere: ADAPTAGENT_DATA_DIR, else ../shared/data beside the repository. */
export const DATA = resolve(process.env.ADAPTAGENT_DATA_DIR ?? resolve(ROOT, "../shared/data"));

/** The artifact a bench runs (`--artifact`, else the default), its files checked against its manifest. */
export function benchArtifact(option, log) {
  const artifactDir = resolveArtifact(option);
  const { manifest } = verifyArtifact(artifactDir);
  log(describeArtifact(artifactDir, manifest));
  return { artifactDir, manifest };
}

export function stats(xs) {
  const s = [...xs].sort((a, b) => a - b);
  const q = (p) => s[Math.min(s.length - 1, Math.max(0, Math.round(p * (s.length - 1))))];
  const r = (x) => Number(x.toFixed(3));
  return { n: s.length, median: r(q(0.5)), p10: r(q(0.1)), p90: r(q(0.9)), p99: r(q(0.99)), min: r(s[0]), max: r(s[s.length - 1]) };
}

export function machine() {
  const c = cpus();
  return {
    cpu: c[0]?.model ?? "unknown",
    cores: c.length,
    memory_gb: Number((totalmem() / 2 ** 30).toFixed(1)),
    node: process.version,
    workerd: execFileSync("npx", ["workerd", "--version"], { encoding: "utf8" }).trim(),
    // scripts/workerd-guard: workerd runs with these V8 flags (no background compilation), unless turned off
    workerd_guard: process.env.MINIFLARE_WORKERD_PATH ? "on" : "off",
    workerd_v8_flags: process.env.MINIFLARE_WORKERD_PATH ? V8_FLAGS : [],
    date: new Date().toISOString(),
    load_average_1_5_15: loadavg().map((x) => Number(x.toFixed(2))), // the machine is shared: read numbers against this
  };
}

export { workerdPids };

/** Resident set size of a process in MB (VmRSS). */
export function rssMb(pid) {
  const m = readFileSync(`/proc/${pid}/status`, "utf8").match(/VmRSS:\s+(\d+) kB/);
  return m ? Number((Number(m[1]) / 1024).toFixed(1)) : NaN;
}

export const readJsonl = (file) => readFileSync(file, "utf8").split("\n").filter((l) => l.trim()).map((l) => JSON.parse(l));

/** Resolves once `${base}/health` answers (wrangler dev starting up); throws after two minutes. */
export async function waitForHealth(base) {
  for (let i = 0; ; i++) {
    try {
      if ((await fetch(`${base}/health`)).ok) return;
    } catch {
      // not up yet
    }
    if (i > 240) throw new Error("wrangler dev did not come up");
    await new Promise((r) => setTimeout(r, 500));
  }
}

/** The DevTools URL of the Worker `name` inside a local workerd: the loopback port whose /json lists it. */
export async function findWorkerInspector(name) {
  // Listening loopback TCP sockets (state 0A) from /proc/net/tcp: no `ss` needed. wrangler's own
  // inspector proxy refuses clients that are not DevTools, so the bench talks to workerd's directly.
  const ports = readFileSync("/proc/net/tcp", "utf8").split("\n").slice(1)
    .map((l) => l.trim().split(/\s+/))
    .filter((f) => f[3] === "0A" && f[1]?.startsWith("0100007F:"))
    .map((f) => parseInt(f[1].split(":")[1], 16));
  for (const port of ports) {
    try {
      const targets = await (await fetch(`http://127.0.0.1:${port}/json`, { signal: AbortSignal.timeout(1000) })).json();
      const target = Array.isArray(targets) ? targets.find((t) => t.id === `core:user:${name}`) : undefined;
      if (target) return target.webSocketDebuggerUrl;
    } catch {
      // not an inspector
    }
  }
  throw new Error(`no workerd inspector lists the Worker ${name}`);
}

/**
 * A DevTools-protocol connection to a Worker running locally (see findWorkerInspector), used to tell a
 * leak from garbage V8 has not collected yet: `sample()` forces a full GC and reads the heap that is
 * left (JS objects plus ArrayBuffer backing stores). Needs Node's WebSocket (Node 22, or Node 20 with
 * --experimental-websocket, which `npm run bench:load` passes). workerd handles inspector messages only
 * while the isolate runs, so an idle Worker is woken by requests to `wakeUrl` until the answer comes.
 */
const WASM_MEMORY_EXPRESSION = 'globalThis[Symbol.for("adaptagent.ortWasmMemory")]?.buffer.byteLength ?? 0';

export async function connectInspector(url, wakeUrl) {
  if (typeof WebSocket === "undefined") throw new Error("no WebSocket in this Node: run with --experimental-websocket");
  // The first DevTools session after workerd starts may never answer (seen with workerd 2026-04-26);
  // a new connection does, so connecting retries until a first GC request is answered.
  // Runtime is not enabled: the Worker's console output would stream over the same socket.
  // The instrument must never fail the bench: a session that cannot be opened is tried again at the
  // next sample, and a sample without an answer is null (the bench then bounds RSS instead).
  const connect = async () => {
    for (let attempt = 1; ; attempt++) {
      const session = await openSession(url, wakeUrl);
      try {
        await session.call("HeapProfiler.collectGarbage", {}, 10_000); // what sample needs to answer
        return session;
      } catch (error) {
        session.ws.close();
        if (attempt >= 3) throw error;
      }
    }
  };
  let session = await connect().catch((error) => (console.error(`[inspector] not connected yet: ${error.message}`), null));
  let busy = false;
  return {
    /**
     * { live_heap_mb, wasm_memory_mb }: the JS heap left after a full GC, and the size of ONNX Runtime's
     * WebAssembly memory (functions/model/ort.ts WASM_MEMORY_SYMBOL; a linear memory only grows, and
     * V8's heap statistics do not count it). Nulls when the inspector did not answer in time (the
     * session is then reopened).
     */
    async sample() {
      const none = { live_heap_mb: null, wasm_memory_mb: null };
      if (busy) return none; // the previous sample is still waiting: do not pile requests up
      busy = true;
      try {
        session ??= await connect();
        await session.call("HeapProfiler.collectGarbage");
        const h = await session.call("Runtime.getHeapUsage");
        const mb = (bytes) => (typeof bytes === "number" ? Number((bytes / 2 ** 20).toFixed(1)) : null);
        return { live_heap_mb: mb(h.usedSize + (h.backingStorageSize ?? 0)), wasm_memory_mb: mb(await wasmBytes(session)) };
      } catch (error) {
        console.error(`[inspector] no live-heap sample: ${error.message}`);
        session?.ws.close();
        session = null;
        return none;
      } finally {
        busy = false;
      }
    },
    close: () => session?.ws.close(),
  };
}

// Runtime.evaluate needs the Worker's execution context, which the inspector announces
// (Runtime.executionContextCreated) only once the Runtime domain is enabled; it is enabled just for the
// read (while enabled, console output streams too).
async function wasmBytes(session) {
  try {
    await session.call("Runtime.enable");
    const contextId = session.contexts.at(-1); // announced by Runtime.enable before it answers
    const answer = await session.call("Runtime.evaluate", { expression: WASM_MEMORY_EXPRESSION, returnByValue: true, ...(contextId ? { contextId } : {}) });
    return answer?.result?.value ?? null;
  } catch (error) {
    console.error(`[inspector] no wasm-memory sample: ${error.message}`);
    return null;
  } finally {
    await session.call("Runtime.disable").catch(() => undefined);
  }
}

async function openSession(url, wakeUrl) {
  const ws = new WebSocket(url);
  const pending = new Map();
  let id = 0;
  const contexts = [];
  ws.onmessage = (m) => {
    const d = JSON.parse(m.data);
    if (d.method === "Runtime.executionContextCreated") contexts.push(d.params.context.id);
    if (d.id && pending.has(d.id)) pending.get(d.id)(d);
    pending.delete(d.id);
  };
  await new Promise((resolve, reject) => {
    ws.onopen = resolve;
    ws.onerror = () => reject(new Error(`no inspector at ${url}`));
  });
  const call = (method, params = {}, timeoutMs = 30_000) =>
    new Promise((resolve, reject) => {
      const i = ++id;
      const wake = setInterval(() => fetch(wakeUrl).then((r) => r.body?.cancel(), () => undefined), 250);
      const timer = setTimeout(() => (clearInterval(wake), reject(new Error(`inspector: ${method} timed out`))), timeoutMs);
      pending.set(i, (d) => (clearTimeout(timer), clearInterval(wake), d.error ? reject(new Error(d.error.message)) : resolve(d.result)));
      ws.send(JSON.stringify({ id: i, method, params }));
    });
  return { ws, call, contexts };
}

/**
 * The real Worker under `wrangler dev` (workers/index.ts, local D1/R2 in a throwaway --persist-to
 * folder under .cache/bench/<name>): migrations applied, the artifact published and activated, one
 * account with an API key and one agent seeded straight into D1 (REST has no agent route). Returns
 * { base, headers, agentId, post, health, rss, pids, stop }; `post` goes through the watchdog of
 * scripts/worker-client.mjs (wrangler dev's proxy can lose a request) and throws on a non-2xx answer.
 */
/**
 * `wrangler dev` on its own local D1/R2 with the artifact active, one account, one agent and `keys` API
 * keys of that account (`headersFor(i)`: the i-th key's headers; `headers`: the first's). A load spread
 * over several keys stands for many clients: one key is capped by its rate limit (3000 requests a minute,
 * workers/rateLimit.ts), which a fast run would otherwise measure instead of the Worker.
 */
export async function startWorker({ root, artifactDir, port, name = "wrangler-state", log = () => {}, keys = 1 }) {
  const state = resolve(root, ".cache/bench", name);
  const wrangler = resolve(root, "node_modules/.bin/wrangler");
  const w = (...args) => execFileSync(wrangler, [...args, "--local", "--persist-to", state], { cwd: root, env: { ...process.env, CI: "1" }, stdio: ["ignore", "pipe", "pipe"] });
  rmSync(state, { recursive: true, force: true });
  mkdirSync(state, { recursive: true });
  log("migrations, account, artifact into local D1/R2 …");
  w("d1", "migrations", "apply", "adaptagent");
  publishArtifact(artifactDir, { activate: true, persistTo: state, log });
  const apiKeys = Array.from({ length: keys }, () => `aa_${randomBytes(32).toString("base64url")}`);
  const accountId = randomUUID();
  const agentId = randomUUID();
  const q = (s) => `'${String(s).replaceAll("'", "''")}'`;
  const sqlFile = resolve(state, "seed.sql");
  writeFileSync(sqlFile, [
    `INSERT INTO accounts (id, name) VALUES (${q(accountId)}, 'bench');`,
    ...apiKeys.map((key, i) =>
      `INSERT INTO api_keys (id, account_id, key_hash, label) VALUES (${q(randomUUID())}, ${q(accountId)}, ${q(createHash("sha256").update(key).digest("hex"))}, 'bench ${i}');`),
    `INSERT INTO agents (id, account_id, name) VALUES (${q(agentId)}, ${q(accountId)}, 'bench agent');`,
  ].join("\n"));
  w("d1", "execute", "adaptagent", "--file", sqlFile);
  const base = `http://127.0.0.1:${port}`;
  const dev = spawn(wrangler, ["dev", "--ip", "127.0.0.1", "--port", String(port), "--persist-to", state, "--log-level", "error"], {
    cwd: root, stdio: ["ignore", "ignore", "inherit"], detached: false,
  });
  const stop = () => dev.kill("SIGTERM");
  try {
    await waitForHealth(base);
  } catch (error) {
    stop();
    throw error;
  }
  const headersFor = (i) => ({ authorization: `Bearer ${apiKeys[i % apiKeys.length]}`, "content-type": "application/json" });
  const headers = headersFor(0);
  const watched = { root: dev.pid, log };
  const post = async (route, body) => {
    const res = await watchedFetch(fetch, `${base}${route}`, { method: "POST", headers, body: JSON.stringify(body) }, watched);
    if (!res.ok) throw new Error(`${route}: ${res.status} ${res.text.slice(0, 300)}`);
    return JSON.parse(res.text);
  };
  const health = () => watchedFetch(fetch, `${base}/health`, {}, watched);
  return {
    base, headers, headersFor, keys: apiKeys.length, agentId, post, health, stop,
    pids: () => workerdPids(dev.pid),
    rss: () => Math.max(...workerdPids(dev.pid).map(rssMb)),
  };
}
