#!/usr/bin/env node
// node bench/webhook-load.mjs [--posts N] [--duplicates F] [--concurrency C] [--fail-first F] [--out FILE]
// A bounded load test of webhook-triggered execution against the real Worker under `wrangler dev`
// (loopback, a throwaway --persist-to folder, its real local queue): N signed posts to one endpoint, a
// share F of them sent again later with the same Idempotency-Key and body (a sender retrying), and a
// callback receiver in this process that checks every signature and answers 500 to the first attempt of
// a share of deliveries (so the queue's retries run too). When every delivery has settled, D1 is read
// directly: exactly one Execution per distinct post, every delivery delivered, each duplicate answered
// with its first delivery, every callback validly signed. Exits 1 when a check fails.
import { execFileSync, spawn } from "node:child_process";
import { createHash, createHmac, randomBytes, randomUUID, timingSafeEqual } from "node:crypto";
import { mkdirSync, rmSync, writeFileSync } from "node:fs";
import { createServer } from "node:http";
import { resolve } from "node:path";
import { parseArgs } from "node:util";
import { describeArtifact, publishArtifact, resolveArtifact, verifyArtifact } from "../scripts/artifact.mjs";
import { guardWorkerd } from "../scripts/workerd-guard/guard.mjs";
import { machine, ROOT, stats, waitForHealth } from "./lib.mjs";

guardWorkerd();
const { values: opt } = parseArgs({
  options: {
    posts: { type: "string", default: "1000" }, duplicates: { type: "string", default: "0.15" },
    concurrency: { type: "string", default: "8" }, "fail-first": { type: "string", default: "0.05" },
    port: { type: "string", default: "8798" }, "settle-timeout-s": { type: "string", default: "600" },
    artifact: { type: "string" }, out: { type: "string" },
  },
});
const posts = Number(opt.posts);
const STATE = resolve(ROOT, ".cache/bench/webhook-load-state");
const wrangler = resolve(ROOT, "node_modules/.bin/wrangler");
const log = (m) => console.error(`[webhook-load] ${m}`);
const w = (...args) => execFileSync(wrangler, [...args, "--local", "--persist-to", STATE], { cwd: ROOT, env: { ...process.env, CI: "1" }, stdio: ["ignore", "pipe", "pipe"] });
const sql = (query) => JSON.parse(w("d1", "execute", "adaptagent", "--json", "--command", query).toString())[0].results;

// The callback receiver: signature checked as a real receiver must; the first attempt of some deliveries
// answered 500 (chosen by the delivery id's hash, so the choice does not depend on timing).
const callbacks = new Map(); // deliveryId -> { attempts, ok, executionIds }
let badSignatures = 0;
let secret = "";
const failsFirst = (deliveryId) => createHash("sha256").update(deliveryId).digest()[0] < 256 * Number(opt["fail-first"]);
const receiver = createServer((req, res) => {
  const chunks = [];
  req.on("data", (c) => chunks.push(c));
  req.on("end", () => {
    const body = Buffer.concat(chunks).toString("utf8");
    const ts = req.headers["x-adaptagent-timestamp"] ?? "";
    const want = createHmac("sha256", secret).update(`${ts}.${body}`).digest();
    const got = Buffer.from(String(req.headers["x-adaptagent-signature"] ?? "").replace(/^v1=/, ""), "hex");
    if (got.length !== want.length || !timingSafeEqual(got, want) || Math.abs(Date.now() / 1000 - Number(ts)) > 300) {
      badSignatures += 1;
      res.writeHead(401).end();
      return;
    }
    const payload = JSON.parse(body);
    const seen = callbacks.get(payload.deliveryId) ?? { attempts: 0, ok: 0, executionIds: new Set() };
    callbacks.set(payload.deliveryId, seen);
    seen.attempts += 1;
    seen.executionIds.add(payload.execution?.id ?? null);
    if (seen.attempts === 1 && failsFirst(payload.deliveryId)) {
      res.writeHead(500).end();
      return;
    }
    seen.ok += 1;
    res.writeHead(200, { "content-type": "application/json" }).end("{}");
  });
});
await new Promise((r) => receiver.listen(0, "127.0.0.1", r));
const receiverUrl = `http://127.0.0.1:${receiver.address().port}/`;

const artifactDir = resolveArtifact(opt.artifact);
const { manifest } = verifyArtifact(artifactDir);
rmSync(STATE, { recursive: true, force: true });
mkdirSync(STATE, { recursive: true });
log(`migrations, an account, ${describeArtifact(artifactDir, manifest)} into local D1/R2 …`);
w("d1", "migrations", "apply", "adaptagent");
publishArtifact(artifactDir, { activate: true, persistTo: STATE, log });
const apiKey = `aa_${randomBytes(32).toString("base64url")}`;
const accountId = randomUUID();
const agentId = randomUUID();
const q = (s) => `'${String(s).replaceAll("'", "''")}'`;
writeFileSync(resolve(STATE, "seed.sql"), [
  `INSERT INTO accounts (id, name) VALUES (${q(accountId)}, 'webhook load');`,
  `INSERT INTO api_keys (id, account_id, key_hash, label) VALUES (${q(randomUUID())}, ${q(accountId)}, ${q(createHash("sha256").update(apiKey).digest("hex"))}, 'load');`,
  `INSERT INTO agents (id, account_id, name) VALUES (${q(agentId)}, ${q(accountId)}, 'webhook agent');`,
].join("\n"));
w("d1", "execute", "adaptagent", "--file", resolve(STATE, "seed.sql"));

const base = `http://127.0.0.1:${opt.port}`;
const vars = {
  WEBHOOK_SECRETS_KEY: randomBytes(32).toString("base64url"),
  WEBHOOK_ALLOWED_CALLBACK_URLS: receiverUrl,
  WEBHOOK_RETRY_BASE_S: "1", // retries after ~1-2 s instead of ~10 s: the run stays bounded
};
const dev = spawn(wrangler, ["dev", "--ip", "127.0.0.1", "--port", opt.port, "--persist-to", STATE, "--log-level", process.env.WEBHOOK_LOAD_LOG_LEVEL ?? "error",
  ...Object.entries(vars).flatMap(([k, v]) => ["--var", `${k}:${v}`])], { cwd: ROOT, stdio: ["ignore", process.env.WEBHOOK_LOAD_LOG_LEVEL ? 2 : "ignore", "inherit"] });
const failures = [];
const check = (ok, what) => {
  if (!ok) failures.push(what);
  log(`${ok ? "✓" : "✗"} ${what}`);
};
const result = { machine: machine(), model_version: manifest.version, settings: { posts, duplicates: Number(opt.duplicates), concurrency: Number(opt.concurrency), fail_first: Number(opt["fail-first"]) } };
try {
  await waitForHealth(base);
  const json = async (path, body) => {
    const res = await fetch(`${base}${path}`, { method: "POST", headers: { authorization: `Bearer ${apiKey}`, "content-type": "application/json" }, body: JSON.stringify(body) });
    return { status: res.status, json: await res.json() };
  };
  const task = await json("/tasks", {
    agentId, name: "support intents", labels: ["card_arrival", "lost_card", "refund"], confidenceThreshold: 0,
    examples: [
      ["when will my card arrive?", "card_arrival"], ["my card has not come yet", "card_arrival"],
      ["i lost my card", "lost_card"], ["my card was stolen", "lost_card"],
      ["i want my money back", "refund"], ["please refund the order", "refund"],
    ].map(([input, label]) => ({ input, label })),
  });
  if (task.status !== 201) throw new Error(`POST /tasks: ${task.status}`);
  const created = await json("/graphql", {
    query: "mutation($t: ID!, $u: String!) { createWebhookEndpoint(input: {taskId: $t, callbackUrl: $u}) { signingSecret endpoint { id } } }",
    variables: { t: task.json.id, u: `${receiverUrl}results` },
  });
  const made = created.json.data?.createWebhookEndpoint;
  if (!made) throw new Error(`createWebhookEndpoint: ${JSON.stringify(created.json)}`);
  secret = made.signingSecret;
  const endpointId = made.endpoint.id;

  // The posts: `distinct` different ones, then duplicates of a spread of them, interleaved late.
  const dupCount = Math.round(posts * Number(opt.duplicates));
  const distinct = posts - dupCount;
  const plan = Array.from({ length: distinct }, (_, i) => ({ key: `post-${i}`, body: JSON.stringify({ input: `where is card number ${i}?`, metadata: { i } }) }));
  for (let d = 0; d < dupCount; d++) plan.splice(Math.min(plan.length, Math.floor(distinct * 0.3) + d * 3), 0, { ...plan[(d * 7) % distinct], duplicate: true });
  const answers = [];
  const latency = [];
  const statuses = {};
  const send = async ({ key, body }) => {
    const ts = String(Math.floor(Date.now() / 1000));
    const sig = createHmac("sha256", secret).update(`${ts}.${body}`).digest("hex");
    const t0 = performance.now();
    const res = await fetch(`${base}/webhooks/${endpointId}`, {
      method: "POST", body,
      headers: { "content-type": "application/json", "x-adaptagent-timestamp": ts, "x-adaptagent-signature": `v1=${sig}`, "idempotency-key": key },
    });
    latency.push(performance.now() - t0);
    statuses[res.status] = (statuses[res.status] ?? 0) + 1;
    const answer = await res.json().catch(() => null);
    answers.push({ key, status: res.status, ...answer });
  };
  log(`${plan.length} signed posts (${distinct} distinct, ${dupCount} duplicates), ${opt.concurrency} at a time …`);
  const started = performance.now();
  let next = 0;
  await Promise.all(Array.from({ length: Number(opt.concurrency) }, async () => {
    while (next < plan.length) await send(plan[next++]);
  }));
  const sentS = (performance.now() - started) / 1000;
  result.accept = { seconds: Math.round(sentS * 10) / 10, posts_per_s: Math.round((plan.length / sentS) * 10) / 10, latency_ms: stats(latency), statuses };
  log(`accepted in ${sentS.toFixed(1)} s: ${JSON.stringify(statuses)}; waiting for every delivery to settle …`);

  // Settled: every delivery delivered or dead (the receiver only fails first attempts, so: delivered).
  const deadline = Date.now() + Number(opt["settle-timeout-s"]) * 1000;
  let pending = Infinity;
  while (Date.now() < deadline) {
    pending = sql(`SELECT COUNT(*) AS n FROM webhook_deliveries WHERE status NOT IN ('delivered', 'dead')`)[0].n;
    if (pending === 0) break;
    await new Promise((r) => setTimeout(r, 2000));
  }
  result.settle_seconds = Math.round((performance.now() - started) / 100) / 10;
  const deliveries = sql(`SELECT id, idempotency_key AS key, status, execution_id, attempts FROM webhook_deliveries WHERE endpoint_id = ${q(endpointId)}`);
  const executions = sql(`SELECT id FROM executions WHERE task_id = ${q(task.json.id)}`);
  const executionIds = new Set(executions.map((e) => e.id));
  const byStatus = {};
  for (const d of deliveries) (byStatus[d.status] ??= []).push(d);
  result.deliveries = Object.fromEntries(Object.entries(byStatus).map(([k, v]) => [k, v.length]));
  result.executions = executions.length;
  result.callbacks = { deliveries_called_back: callbacks.size, posts_received: [...callbacks.values()].reduce((a, c) => a + c.attempts, 0), bad_signatures: badSignatures, first_attempts_failed: [...callbacks.keys()].filter(failsFirst).length };

  check(pending === 0, `every delivery settled within ${opt["settle-timeout-s"]} s (${result.settle_seconds} s after the first post)`);
  check(answers.every((a) => a.status === 202), `every post accepted with 202 (${JSON.stringify(statuses)})`);
  check(deliveries.length === distinct, `one delivery per distinct post: ${deliveries.length} of ${distinct}`);
  check((byStatus.delivered?.length ?? 0) === distinct, `every delivery delivered: ${byStatus.delivered?.length ?? 0}`);
  check(executions.length === distinct, `exactly one Execution per distinct post: ${executions.length} for ${distinct}`);
  check(deliveries.every((d) => executionIds.has(d.execution_id)) && new Set(deliveries.map((d) => d.execution_id)).size === distinct,
    "each delivery's Execution exists and belongs to it alone");
  // Per key, whichever copy arrived first made the delivery; every other copy is answered with it, replayed.
  const byKey = new Map();
  for (const a of answers) byKey.set(a.key, [...(byKey.get(a.key) ?? []), a]);
  const repeated = [...byKey.values()].filter((copies) => copies.length > 1);
  check(repeated.length > 0 && repeated.every((copies) => new Set(copies.map((a) => a.deliveryId)).size === 1 && copies.filter((a) => !a.replayed).length === 1),
    `each of the ${repeated.length} repeated posts answered with one delivery, every later copy replayed`);
  check(badSignatures === 0, "every callback validly signed");
  check(deliveries.every((d) => { const c = callbacks.get(d.id); return c && c.ok >= 1 && c.executionIds.size === 1 && c.executionIds.has(d.execution_id); }),
    "every delivery called back with its own Execution (retries carry the same one)");
  const retried = deliveries.filter((d) => failsFirst(d.id));
  check(retried.every((d) => callbacks.get(d.id)?.attempts >= 2 && d.attempts >= 2), `the ${retried.length} deliveries whose first callback failed were retried and delivered`);
} finally {
  dev.kill("SIGTERM");
  receiver.closeAllConnections?.();
  receiver.close();
}
result.failures = failures;
const out = JSON.stringify(result, null, 1);
if (opt.out) writeFileSync(opt.out, out);
console.log(out);
process.exit(failures.length ? 1 : 0);
