#!/usr/bin/env node
// node bench/load-soak.mjs [--duration S] [--rate R] [--artifact DIR] [--out FILE] [--port P]
// A bounded load-and-soak test of the real Worker under `wrangler dev` (loopback only, a throwaway
// --persist-to folder): R requests/s, open loop, for S seconds — executeTask on a 77-label BANKING77 task
// (70%), feedback with a correction on an earlier execution (15%), addExamples through GraphQL (10%), a
// GraphQL read (5%) — and, half-way through, the active model version switched to a second one by an
// admin through GraphQL. Afterwards it checks D1 directly: every accepted request is there exactly once
// (executions, feedback, examples) and nothing else was written; it reports latency percentiles per kind,
// the workerd process's memory over time (first vs last minute), and which model version served each
// execution. Memory is read two ways: the workerd process's RSS, and every 20 s (shorter runs: 12 samples) the Worker's live heap
// after a forced full GC and the size of ONNX Runtime's WebAssembly memory (through workerd's inspector): RSS alone mixes a leak with garbage V8 has not
// collected yet. The bound applies to the live heap, or to RSS when the inspector did not answer in some
// window (the result says which, `growth_of`). Exits 1 when a check fails.
import { execFileSync, spawn } from "node:child_process";
import { createHash, randomBytes, randomUUID } from "node:crypto";
import { cpSync, mkdirSync, rmSync, writeFileSync } from "node:fs";
import { resolve } from "node:path";
import { parseArgs } from "node:util";
import { publishArtifact } from "../scripts/artifact.mjs";
import { guardWorkerd } from "../scripts/workerd-guard/guard.mjs";
import { benchArtifact, connectInspector, DATA, findWorkerInspector, machine, readJsonl, ROOT, rssMb, stats, waitForHealth, workerdPids } from "./lib.mjs";

guardWorkerd();
const { values: opt } = parseArgs({
  options: {
    artifact: { type: "string" }, out: { type: "string" }, port: { type: "string", default: "8797" },
    duration: { type: "string", default: "600" }, rate: { type: "string", default: "8" },
    "p99-bound-ms": { type: "string", default: "5000" }, "memory-growth-bound-mb": { type: "string", default: "20" },
  },
});
const duration = Number(opt.duration);
const rate = Number(opt.rate);
const STATE = resolve(ROOT, ".cache/bench/load-soak-state");
const wrangler = resolve(ROOT, "node_modules/.bin/wrangler");
const log = (m) => console.error(`[load-soak] ${m}`);
const w = (...args) => execFileSync(wrangler, [...args, "--local", "--persist-to", STATE], { cwd: ROOT, env: { ...process.env, CI: "1" }, stdio: ["ignore", "pipe", "pipe"] });
const sql = (query) => JSON.parse(w("d1", "execute", "adaptagent", "--json", "--command", query).toString())[0].results;

// Two versions of the same model: the default, and a copy under another version (the switch).
const { artifactDir, manifest } = benchArtifact(opt.artifact, log);
const second = resolve(ROOT, ".cache/bench/load-soak-v2");
rmSync(second, { recursive: true, force: true });
cpSync(artifactDir, second, { recursive: true });
const secondVersion = `${manifest.version}-switch`;
writeFileSync(resolve(second, "manifest.json"), JSON.stringify({ ...manifest, version: secondVersion }, null, 1));

rmSync(STATE, { recursive: true, force: true });
mkdirSync(STATE, { recursive: true });
log("migrations, accounts, two model versions into local D1/R2 …");
w("d1", "migrations", "apply", "adaptagent");
publishArtifact(second, { activate: false, persistTo: STATE, log });
publishArtifact(artifactDir, { activate: true, persistTo: STATE, log });
const apiKey = `aa_${randomBytes(32).toString("base64url")}`;
const adminKey = `aa_${randomBytes(32).toString("base64url")}`;
const accountId = randomUUID();
const adminAccount = randomUUID();
const agentId = randomUUID();
const q = (s) => `'${String(s).replaceAll("'", "''")}'`;
const hash = (k) => createHash("sha256").update(k).digest("hex");
writeFileSync(resolve(STATE, "seed.sql"), [
  `INSERT INTO accounts (id, name) VALUES (${q(accountId)}, 'load'), (${q(adminAccount)}, 'operator');`,
  `INSERT INTO api_keys (id, account_id, key_hash, label) VALUES (${q(randomUUID())}, ${q(accountId)}, ${q(hash(apiKey))}, 'load');`,
  `INSERT INTO api_keys (id, account_id, key_hash, label, is_admin) VALUES (${q(randomUUID())}, ${q(adminAccount)}, ${q(hash(adminKey))}, 'admin', 1);`,
  `INSERT INTO agents (id, account_id, name) VALUES (${q(agentId)}, ${q(accountId)}, 'load agent');`,
].join("\n"));
w("d1", "execute", "adaptagent", "--file", resolve(STATE, "seed.sql"));

const base = `http://127.0.0.1:${opt.port}`;
const dev = spawn(wrangler, ["dev", "--ip", "127.0.0.1", "--port", opt.port, "--persist-to", STATE, "--log-level", "error"], {
  cwd: ROOT, stdio: ["ignore", "ignore", "inherit"],
});
const failures = [];
const check = (ok, what) => {
  if (!ok) failures.push(what);
  log(`${ok ? "✓" : "✗"} ${what}`);
};
const result = { machine: machine(), model_versions: [manifest.version, secondVersion], settings: { duration_s: duration, rate_per_s: rate } };
// What the Worker accepted (answered 2xx), to compare with what D1 holds afterwards.
const accepted = { executions: new Set(), feedback: new Set(), examples: 0, corrections: 0, initialExamples: 0 };
try {
  await waitForHealth(base);
  const headers = (key) => ({ authorization: `Bearer ${key}`, "content-type": "application/json" });
  const post = async (path, body, key = apiKey) => {
    const res = await fetch(`${base}${path}`, { method: "POST", headers: headers(key), body: JSON.stringify(body), signal: AbortSignal.timeout(60_000) });
    return { status: res.status, json: await res.json().catch(() => null) };
  };
  const gql = (query, variables, key) => post("/graphql", { query, variables }, key);

  const train = readJsonl(resolve(DATA, "banking77/train_5.jsonl"));
  const labels = [...new Set(train.map((r) => r.label))].sort();
  const test = readJsonl(resolve(DATA, "banking77/test.jsonl"));
  const created = await post("/tasks", {
    agentId, name: "banking77 intents", labels, confidenceThreshold: 0,
    examples: train.map((r) => ({ input: r.text, label: r.label })),
  });
  if (created.status !== 201) throw new Error(`POST /tasks: ${created.status} ${JSON.stringify(created.json)}`);
  const taskId = created.json.id;
  accepted.initialExamples = train.length;
  const warm = await post("/execute_task", { taskId, input: test[0].text });
  if (warm.status !== 200) throw new Error(`warm-up execute: ${warm.status}`);
  accepted.executions.add(warm.json.id);
  const latency = { execute: [], feedback: [], add_examples: [], read: [] };
  const statuses = {};
  const versions = {};
  const executionIds = [warm.json.id];
  const pids = workerdPids(dev.pid);
  const rss = () => Math.max(...workerdPids(dev.pid).map(rssMb));
  const memory = [];
  const live = []; // the live heap after a full GC
  // Without an inspector (none found) the live-heap samples are null and the bound applies to RSS.
  const inspector = await findWorkerInspector("adaptagent")
    .then((url) => connectInspector(url, `${base}/health`))
    .catch((error) => (log(`no inspector: ${error.message}`), { sample: async () => ({ live_heap_mb: null, wasm_memory_mb: null }), close: () => undefined }));
  const sampleLive = async () => {
    const t_s = Math.round((performance.now() - t0) / 1000);
    live.push({ t_s, ...(await inspector.sample()), rss_mb_after_gc: rss() });
  };
  let t0 = 0; // set when the load starts

  const one = async (i) => {
    const t = test[(i * 13) % test.length];
    const roll = (i * 7919) % 100;
    const t0 = performance.now();
    let kind;
    let r;
    if (roll < 70) {
      kind = "execute";
      r = await post("/execute_task", { taskId, input: t.text });
      if (r.status === 200) {
        accepted.executions.add(r.json.id);
        executionIds.push(r.json.id);
        versions[r.json.modelVersion] = (versions[r.json.modelVersion] ?? 0) + 1;
      }
    } else if (roll < 85) {
      kind = "feedback";
      const executionId = executionIds[(i * 31) % executionIds.length];
      r = await post("/feedback", { executionId, correctedLabel: t.label, comment: `load ${i}` });
      if (r.status === 201) {
        accepted.feedback.add(r.json.id);
        if (r.json.exampleId) accepted.corrections += 1;
      }
    } else if (roll < 95) {
      kind = "add_examples";
      r = await gql("mutation($t: ID!, $e: [ExampleInput!]!) { addExamples(taskId: $t, examples: $e) { id } }",
        { t: taskId, e: [{ input: `${t.text} (${i})`, label: t.label }] });
      if (r.status === 200 && r.json?.data) accepted.examples += r.json.data.addExamples.length;
    } else {
      kind = "read";
      r = await gql("query($t: ID!) { task(id: $t) { id examples(first: 20) { edges { node { id } } } } }", { t: taskId });
    }
    latency[kind].push(performance.now() - t0);
    const key = `${kind} ${r.status}${r.json?.errors ? " graphql-error" : ""}`;
    statuses[key] = (statuses[key] ?? 0) + 1;
  };

  log(`${rate} req/s for ${duration} s; the active version switches at ${Math.round(duration / 2)} s`);
  t0 = performance.now();
  const inflight = new Set();
  const liveSamples = [];
  let switched = null;
  let switchedAt = null;
  const total = Math.round(duration * rate);
  for (let i = 0; i < total; i++) {
    const due = t0 + (i * 1000) / rate;
    const wait = due - performance.now();
    if (wait > 0) await new Promise((r) => setTimeout(r, wait));
    if (i % Math.max(1, Math.round(rate * 5)) === 0) memory.push({ t_s: Math.round((performance.now() - t0) / 1000), rss_mb: rss() });
    if (i % Math.max(1, Math.round(rate * Math.min(20, duration / 12))) === 0) liveSamples.push(sampleLive());
    if (!switched && performance.now() - t0 >= (duration * 1000) / 2) {
      switched = (async () => {
        const r = await gql("mutation($v: ID!) { activateModelVersion(version: $v) { version active } }", { v: secondVersion }, adminKey);
        result.switch = { at_s: Math.round((performance.now() - t0) / 1000), status: r.status, answer: r.json?.data ?? r.json?.errors };
        switchedAt = result.switch.at_s;
        log(`switched to ${secondVersion}: ${r.status}`);
      })();
    }
    const p = one(i).catch((e) => {
      statuses[`error ${e.name}`] = (statuses[`error ${e.name}`] ?? 0) + 1;
    });
    inflight.add(p);
    p.finally(() => inflight.delete(p));
  }
  await Promise.all([...inflight, switched, ...liveSamples]);
  memory.push({ t_s: Math.round((performance.now() - t0) / 1000), rss_mb: rss() });
  await sampleLive();
  inspector.close();
  result.requests = { sent: total, by_kind_and_status: statuses };
  result.latency_ms = Object.fromEntries(Object.entries(latency).map(([k, v]) => [k, v.length ? stats(v) : null]));
  result.executions_by_model_version = versions;
  // Memory: the first minute (after a 10 s warm-up), the minute after the switch has loaded the second
  // version (30 s after it), the last minute. A leak shows as growth from the second to the last; the
  // switch itself adds the second version's sessions (the first version's are not released).
  const minute = Math.min(60, duration / 6);
  const mean = (xs) => xs.reduce((a, b) => a + b, 0) / Math.max(1, xs.length);
  const window = (series, key, from) => {
    const xs = series.filter((m) => m.t_s >= from && m.t_s <= from + minute && m[key] !== null).map((m) => m[key]);
    return xs.length ? Number(mean(xs).toFixed(1)) : null; // null: no sample in the window
  };
  const windows = (series, key) => {
    const first = window(series, key, 10);
    const afterSwitch = window(series, key, (switchedAt ?? duration / 2) + Math.min(30, duration / 10));
    const last = window(series, key, duration - minute);
    const diff = (a, b) => (a === null || b === null ? null : Number((a - b).toFixed(1)));
    return { first_minute: first, after_switch: afterSwitch, last_minute: last, growth_from_switch: diff(afterSwitch, first), growth: diff(last, afterSwitch) };
  };
  const rssWindows = windows(memory, "rss_mb");
  const liveWindows = windows(live, "live_heap_mb");
  const wasmWindows = windows(live, "wasm_memory_mb");
  result.memory_mb = {
    workerd_processes: pids.length, window_s: Math.round(minute),
    rss: { ...rssWindows, samples: memory },
    live_heap_after_gc: { ...liveWindows, samples: live },
    ort_wasm_memory: wasmWindows, // its samples are in live_heap_after_gc's
    // The live heap when the inspector answered in every window, else (said so) the RSS.
    growth_of: liveWindows.growth !== null ? "live_heap_after_gc" : "rss",
    growth: liveWindows.growth ?? rssWindows.growth,
  };
} finally {
  dev.kill("SIGTERM");
  await new Promise((r) => setTimeout(r, 3000));
}

// What D1 holds, read after the Worker stopped: exactly the accepted writes, each once.
const stored = (table) => sql(`SELECT id FROM ${table} WHERE account_id = '${accountId}'`).map((row) => row.id);
const sameSet = (list, set) => new Set(list).size === list.length && list.length === set.size && list.every((x) => set.has(x));
const executions = stored("executions");
const feedback = stored("feedback");
const examples = sql(`SELECT COUNT(*) AS n FROM examples WHERE account_id = '${accountId}'`)[0].n;
result.stored = { executions: executions.length, feedback: feedback.length, examples };
result.accepted = { executions: accepted.executions.size, feedback: accepted.feedback.size, examples_added: accepted.examples, corrections: accepted.corrections };
check(sameSet(executions, accepted.executions), `every accepted execution is stored exactly once, and no other (${executions.length} stored, ${accepted.executions.size} accepted)`);
check(sameSet(feedback, accepted.feedback), `every accepted feedback is stored exactly once, and no other (${feedback.length} stored, ${accepted.feedback.size} accepted)`);
const expectedExamples = accepted.initialExamples + accepted.examples + accepted.corrections;
check(examples === expectedExamples, `examples: ${examples} stored = ${accepted.initialExamples} initial + ${accepted.examples} added + ${accepted.corrections} corrections`);
const byStatus = result.requests?.by_kind_and_status ?? {};
check(!Object.keys(byStatus).some((k) => / 5\d\d|error|graphql-error/.test(k)), `no 5xx, no GraphQL error, no failed request: ${JSON.stringify(byStatus)}`);
check(result.switch?.answer?.activateModelVersion?.active === true, `the admin's switch to ${secondVersion} took: ${JSON.stringify(result.switch)}`);
check((result.executions_by_model_version?.[secondVersion] ?? 0) > 0, `executions after the switch served by ${secondVersion}: ${JSON.stringify(result.executions_by_model_version)}`);
check((result.latency_ms?.execute?.p99 ?? Infinity) <= Number(opt["p99-bound-ms"]), `executeTask p99 ${result.latency_ms?.execute?.p99} ms <= ${opt["p99-bound-ms"]} ms`);
check((result.memory_mb?.growth ?? Infinity) <= Number(opt["memory-growth-bound-mb"]), `workerd memory (${result.memory_mb?.growth_of}), last minute vs the minute after the switch: ${result.memory_mb?.growth} MB <= ${opt["memory-growth-bound-mb"]} MB`);
result.checks = { failed: failures };
const text = JSON.stringify(result, null, 2);
if (opt.out) writeFileSync(opt.out, text + "\n");
console.log(text);
process.exit(failures.length ? 1 : 0);
