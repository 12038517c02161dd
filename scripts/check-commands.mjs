#!/usr/bin/env node
// The commands README.md and docs/ document, run as a newcomer runs them right after `npm ci`, each one
// checked (CI runs this after npm test; `node scripts/check-commands.mjs`). Prints one JSON object:
// what ran, how long each took, and the time from the start of `npm start` to the first /health and to
// the first successful executeTask through REST.
//   npm start (on PORT, default 8789) → GraphQL createAgent → REST POST /tasks → POST /execute_task →
//   POST /feedback → the README's webhook round trip (signed post twice, receiver checks the callback);
//   with the data sets present, a 77-label BANKING77 task from its 5-shot file answering
//   every test query it is asked without an LLM; npm run publish:local (already published: kept);
//   npm run create-key; Schemathesis against /openapi.json (scripts/schemathesis.sh); npm run eval;
//   npm run bench:load (40 s); npm run bench / bench:http / bench:peer (short); npm run check:deploy;
//   npm run build:model on the smoke preset into a scratch folder (BUILD_MODEL_OUT).
import { spawn } from "node:child_process";
import { existsSync, mkdirSync, readFileSync } from "node:fs";
import { join, resolve } from "node:path";
import { DEFAULT_ARTIFACT, verifyArtifact } from "./artifact.mjs";
import { watchedFetch } from "./worker-client.mjs";
import { ROOT } from "./wrangler.mjs";

const PORT = process.env.PORT ?? "8789";
const base = `http://127.0.0.1:${PORT}`;
const DATA = resolve(process.env.ADAPTAGENT_DATA_DIR ?? resolve(ROOT, "../shared/data"));
const shipped = verifyArtifact(DEFAULT_ARTIFACT).manifest.version;
const report = { machine: { cores: (await import("node:os")).cpus().length }, steps: {} };
const log = (m) => console.error(`[check] ${m}`);
const seconds = (t0) => Number(((performance.now() - t0) / 1000).toFixed(1));
function check(cond, what) {
  if (!cond) throw new Error(`check failed: ${what}`);
}
// Every step says when it starts and has a time limit, so a hang fails here, named, instead of
// running into CI's own limit with nothing printed. Child stderr goes straight to ours (progress).
const MINUTE = 60_000;
async function run(what, cmd, args, { env = {}, timeout = 5 * MINUTE } = {}) {
  log(`▶ ${what} (limit ${timeout / 1000} s)`);
  const t0 = performance.now();
  // Its own process group, so that a time-out also ends what it started (wrangler, workerd, python).
  const child = spawn(cmd, args, { cwd: ROOT, env: { ...process.env, ...env }, stdio: ["ignore", "pipe", "inherit"], detached: true });
  let out = "";
  child.stdout.setEncoding("utf8").on("data", (d) => (out += d));
  let timedOut = false;
  const timer = setTimeout(() => {
    timedOut = true;
    try {
      process.kill(-child.pid, "SIGKILL");
    } catch {
      // already gone
    }
  }, timeout);
  const code = await new Promise((res) => child.on("close", (c) => res(c)));
  clearTimeout(timer);
  if (timedOut) throw new Error(`${what}: killed after ${seconds(t0)} s, over its ${timeout / 1000} s limit`);
  if (code !== 0) throw new Error(`${what} exited ${code} after ${seconds(t0)} s:\n${out.slice(-3000)}`);
  log(`✓ ${what} (${seconds(t0)} s)`);
  return { out, seconds: seconds(t0) };
}
async function npm(args, opts = {}) {
  const { out, seconds: s } = await run(`npm run ${args.join(" ")}`, "npm", ["run", "--silent", ...args], opts);
  report.steps[`npm run ${args[0]}`] = { seconds: s };
  return out;
}

mkdirSync(join(ROOT, ".cache"), { recursive: true });
log("▶ npm start (limit 300 s to /health)");
const t0 = performance.now();
const start = spawn("npm", ["start"], { cwd: ROOT, env: { ...process.env, PORT }, stdio: ["ignore", "pipe", "pipe"], detached: true });
let startLog = "";
start.stdout.on("data", (d) => (startLog += d));
start.stderr.on("data", (d) => (startLog += d));
const stop = () => {
  try {
    process.kill(-start.pid, "SIGTERM");
  } catch {
    // already gone
  }
};
process.on("exit", stop);
try {
  for (;;) {
    try {
      if ((await fetch(`${base}/health`, { signal: AbortSignal.timeout(10_000) })).ok) break;
    } catch {
      // not up yet
    }
    if (start.exitCode !== null) throw new Error(`npm start exited (${start.exitCode}):\n${startLog.slice(-3000)}`);
    if (performance.now() - t0 > 300_000) throw new Error(`npm start: no /health within 300 s:\n${startLog.slice(-3000)}`);
    await new Promise((r) => setTimeout(r, 250));
  }
  report.steps["npm start → /health"] = { seconds: seconds(t0) };
  log(`✓ npm start → /health (${seconds(t0)} s); REST and GraphQL calls next`);
  check(startLog.includes(shipped), `npm start names the shipped model version ${shipped}`);
  const key = readFileSync(join(ROOT, ".wrangler", "dev-api-key"), "utf8").trim();
  // A request lost in wrangler dev's proxy is sent again (scripts/worker-client.mjs); a minute at most each.
  const call = async (path, body) => {
    const res = await watchedFetch(fetch, `${base}${path}`, {
      method: "POST", signal: AbortSignal.timeout(MINUTE),
      headers: { authorization: `Bearer ${key}`, "content-type": "application/json" },
      body: JSON.stringify(body),
    }, { root: start.pid, log });
    return { status: res.status, json: JSON.parse(res.text) };
  };
  const gql = async (query, variables) => (await call("/graphql", { query, variables })).json;

  const active = await gql("{ activeModelVersion { version } }");
  check(active.data?.activeModelVersion?.version === shipped, `active model is the shipped one (${JSON.stringify(active)})`);
  const agent = (await gql('mutation { createAgent(input: { name: "Support" }) { id } }')).data.createAgent;
  const task = await call("/tasks", {
    agentId: agent.id, name: "Banking intents", labels: ["card_arrival", "lost_card"],
    examples: [
      { input: "when will my card arrive?", label: "card_arrival" }, { input: "my card hasn't come yet", label: "card_arrival" },
      { input: "i lost my card", label: "lost_card" }, { input: "my card was stolen yesterday", label: "lost_card" },
    ],
  });
  check(task.status === 201 || task.status === 200, `POST /tasks: ${JSON.stringify(task)}`);
  const exec = await call("/execute_task", { taskId: task.json.id, input: "still waiting on my new card" });
  report.steps["npm start → first executeTask (REST)"] = { seconds: seconds(t0) };
  check(exec.status === 200 && exec.json.status === "succeeded" && exec.json.path === "model", `POST /execute_task: ${JSON.stringify(exec)}`);
  check(exec.json.predictedLabel === "card_arrival" && exec.json.modelVersion === shipped, `prediction ${exec.json.predictedLabel} by ${exec.json.modelVersion}`);
  const feedback = await call("/feedback", { executionId: exec.json.id, correctedLabel: "lost_card" });
  check(feedback.status === 201 || feedback.status === 200, `POST /feedback: ${JSON.stringify(feedback)}`);

  if (existsSync(join(DATA, "banking77", "train_5.jsonl"))) {
    // Without an LLM every classification still answers (path model), under its threshold or not.
    const rows = (f) => readFileSync(join(DATA, "banking77", f), "utf8").split("\n").filter(Boolean).map((l) => JSON.parse(l));
    const support = rows("train_5.jsonl");
    const labels = [...new Set(support.map((r) => r.label))];
    const big = await call("/tasks", { agentId: agent.id, name: "BANKING77", labels, examples: support.map((r) => ({ input: r.text, label: r.label })) });
    check(big.status === 201 || big.status === 200, `77-label task: ${JSON.stringify(big).slice(0, 500)}`);
    const test = rows("test.jsonl").filter((_, i) => i % 100 === 0); // 31 queries across the labels
    let correct = 0;
    const paths = {};
    for (const q of test) {
      const r = await call("/execute_task", { taskId: big.json.id, input: q.text });
      check(r.status === 200 && r.json.status === "succeeded", `77-label execute: ${JSON.stringify(r.json).slice(0, 500)}`);
      paths[r.json.path] = (paths[r.json.path] ?? 0) + 1;
      correct += r.json.predictedLabel === q.label ? 1 : 0;
    }
    check(paths.model === test.length, `every answer from the model without an LLM: ${JSON.stringify(paths)}`);
    report.steps["77-label BANKING77 task, no LLM"] = { queries: test.length, answered: paths.model, correct };
    log(`✓ 77-label task: ${correct}/${test.length} correct, all answered by the model`);
  }

  // The README's webhook round trip: an endpoint, scripts/webhook-receiver.mjs on the local receiver
  // address .dev.vars allows, a signed post sent twice with one Idempotency-Key, one signed callback.
  const hook = (await gql(`mutation { createWebhookEndpoint(input: { taskId: "${task.json.id}", callbackUrl: "http://127.0.0.1:8788/results" }) { signingSecret endpoint { id } } }`)).data?.createWebhookEndpoint;
  check(hook?.signingSecret?.startsWith("whsec_"), `createWebhookEndpoint under npm start: ${JSON.stringify(hook)}`);
  const receiver = spawn(process.execPath, [join(ROOT, "scripts", "webhook-receiver.mjs")], { cwd: ROOT, env: { ...process.env, WEBHOOK_SECRET: hook.signingSecret }, stdio: ["ignore", "pipe", "inherit"] });
  let received = "";
  receiver.stdout.on("data", (d) => (received += d));
  try {
    const body = JSON.stringify({ input: "still waiting on my new card", metadata: { ticket: "T-1042" } });
    const ts = String(Math.floor(Date.now() / 1000));
    const { createHmac } = await import("node:crypto");
    const headers = { "content-type": "application/json", "x-adaptagent-timestamp": ts, "x-adaptagent-signature": `v1=${createHmac("sha256", hook.signingSecret).update(`${ts}.${body}`).digest("hex")}`, "idempotency-key": "T-1042" };
    const posted = [];
    for (let i = 0; i < 2; i++) {
      const res = await fetch(`${base}/webhooks/${hook.endpoint.id}`, { method: "POST", headers, body, signal: AbortSignal.timeout(MINUTE) });
      posted.push({ status: res.status, ...(await res.json()) });
    }
    check(posted[0].status === 202 && posted[1].status === 202 && posted[1].replayed && posted[1].deliveryId === posted[0].deliveryId, `webhook posts: ${JSON.stringify(posted)}`);
    const until = performance.now() + 2 * MINUTE;
    let delivery;
    while (performance.now() < until) {
      delivery = (await gql(`{ webhookDelivery(id: "${posted[0].deliveryId}") { status attempts callbackStatus execution { id predictedLabel } } }`)).data?.webhookDelivery;
      if (delivery?.status === "delivered" || delivery?.status === "dead") break;
      await new Promise((r) => setTimeout(r, 500));
    }
    check(delivery?.status === "delivered" && delivery.callbackStatus === 200, `webhook delivery: ${JSON.stringify(delivery)}`);
    check(received.includes("signature ok") && received.includes(delivery.execution.id) && !received.includes("REFUSED"), `the receiver got one signed callback: ${received.slice(-500)}`);
    report.steps["webhook round trip (README)"] = { status: delivery.status, attempts: delivery.attempts, predicted: delivery.execution.predictedLabel };
    log(`✓ webhook round trip: ${delivery.status} after ${delivery.attempts} attempt(s)`);
  } finally {
    receiver.kill();
  }

  const published = await npm(["publish:local"]);
  check(!/error/i.test(published), "publish:local");
  const created = (await npm(["create-key"])).trim();
  check(/^aa_[A-Za-z0-9_-]{43}$/.test(created), "create-key prints a key");
  // /openapi.json says exactly what the server accepts and answers: Schemathesis, every check.
  const st = await run("Schemathesis against npm start (scripts/schemathesis.sh)", "bash", ["scripts/schemathesis.sh", base, key], { timeout: 8 * MINUTE });
  report.steps["schemathesis"] = { seconds: st.seconds, result: st.out.match(/\d+ generated, [^\n]*/)?.[0] ?? null };
} finally {
  stop();
}

if (existsSync(join(DATA, "banking77", "test.jsonl"))) {
  const { out, seconds: s } = await run("npm run eval (banking77, 10-way 5-shot)", "npm", ["run", "--silent", "eval", "--", "--data", join(DATA, "banking77"), "--shots", "5", "--way", "10", "--query-per-label", "3", "--json"]);
  const result = JSON.parse(out);
  check(result.setting.model_version === shipped, `eval evaluated ${result.setting.model_version}, not the shipped ${shipped}`);
  report.steps["npm run eval"] = { seconds: s, accuracy: result.adapted.accuracy, model_version: result.setting.model_version };
}
await npm(["bench", "--", "--reps", "3", "--out", join(ROOT, ".cache", "check-bench.json")], { timeout: 8 * MINUTE });
await npm(["bench:http", "--", "--duration", "3", "--requests", "20", "--out", join(ROOT, ".cache", "check-bench-http.json")], { timeout: 8 * MINUTE });
if (existsSync(join(DATA, "banking77", "train_5.jsonl"))) {
  // The Python peer beside the Worker, short (its venv is installed on first use: about 1.5 minutes).
  await npm(["bench:peer", "--", "--rounds", "1", "--duration", "3", "--accuracy", "20", "--out", join(ROOT, ".cache", "check-bench-peer.json")], { timeout: 8 * MINUTE });
}
if (existsSync(join(DATA, "banking77", "train_5.jsonl"))) {
  // The load-and-soak test, short: every accepted write in D1 exactly once, a model switch half-way.
  // Correctness only (looser latency and memory bounds: 160 requests, a few waiting on the switch's model
  // load; memory over 40 s says little — the documented long run is where those bounds mean something).
  await npm(["bench:load", "--", "--duration", "40", "--rate", "4", "--p99-bound-ms", "10000", "--memory-growth-bound-mb", "1000", "--out", join(ROOT, ".cache", "check-bench-load.json")], { timeout: 6 * MINUTE });
}
// Webhooks under load, short: signed posts (some sent twice), a receiver that fails some first callbacks;
// exactly one Execution per distinct post (docs/benchmarks.md has the 1 000-post run).
await npm(["bench:webhooks", "--", "--posts", "200", "--out", join(ROOT, ".cache", "check-bench-webhooks.json")], { timeout: 6 * MINUTE });
await npm(["check:deploy"]);
if (existsSync(join(DATA, "banking77", "test.jsonl"))) {
  // Training needs the data sets; the smoke preset runs the same command and code path in minutes.
  await npm(["build:model", "--", "--preset", "smoke"], { env: { BUILD_MODEL_OUT: join(ROOT, ".cache", "models", "check-build") }, timeout: 20 * MINUTE });
  check(existsSync(join(ROOT, ".cache", "models", "check-build", "manifest.json")), "build:model wrote an artifact");
} else {
  log(`no data sets in ${DATA}: eval, the 77-label task and build:model skipped`);
}
console.log(JSON.stringify(report, null, 2));
