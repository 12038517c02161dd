#!/usr/bin/env node
// npm run bench:peer [-- --rounds R --duration S --connections C --accuracy N --out FILE]
// POST /execute_task on the Worker beside a Python peer (bench/peer/app.py: FastAPI + the full
// all-MiniLM-L6-v2 + scikit-learn LogisticRegression per task + SQLite), on this machine, in one run:
// the same 77-label BANKING77 5-shot task created in each, then the same load generator (autocannon,
// C connections, S seconds, each request the next text of BANKING77's test split, answered without the
// LLM) driving each in turn, rounds interleaved (Worker, peer, Worker, peer, …) so that a noisy window
// hits both. Prints one JSON object: per service and round req/s, p50/p99 latency, errors, memory (RSS of
// workerd / the Python process) and accuracy on the queries it answered under load, their means, the
// Worker ÷ peer ratios, and accuracy on the first N test queries of each, asked one at a time.
import { execFileSync, spawn } from "node:child_process";
import { writeFileSync } from "node:fs";
import { resolve } from "node:path";
import { parseArgs } from "node:util";
import autocannon from "autocannon";
import { guardWorkerd } from "../scripts/workerd-guard/guard.mjs";
import { benchArtifact, DATA, machine, readJsonl, ROOT, rssMb, startWorker, waitForHealth } from "./lib.mjs";

guardWorkerd(); // before wrangler dev starts workerd (scripts/workerd-guard/guard.mjs)
const { values: opt } = parseArgs({
  options: {
    artifact: { type: "string" }, out: { type: "string" }, port: { type: "string", default: "8796" }, "peer-port": { type: "string", default: "8797" },
    rounds: { type: "string", default: "2" }, duration: { type: "string", default: "15" }, connections: { type: "string", default: "4" },
    accuracy: { type: "string", default: "200" },
  },
});
const log = (m) => console.error(`[bench:peer] ${m}`);
const { artifactDir, manifest } = benchArtifact(opt.artifact, log);

const train = readJsonl(resolve(DATA, "banking77/train_5.jsonl"));
const labels = [...new Set(train.map((r) => r.label))].sort();
const test = readJsonl(resolve(DATA, "banking77/test.jsonl"));
const INPUT = "my card has not arrived yet, what should i do?";

log("the peer's Python environment (bench/peer/python-env.sh) …");
const python = execFileSync("bash", [resolve(ROOT, "bench/peer/python-env.sh")], { cwd: ROOT, encoding: "utf8", stdio: ["ignore", "pipe", "inherit"] }).trim();
const peerBase = `http://127.0.0.1:${opt["peer-port"]}`;
const peerProc = spawn(python, ["-m", "uvicorn", "bench.peer.app:app", "--host", "127.0.0.1", "--port", opt["peer-port"], "--log-level", "warning", "--no-access-log"], {
  cwd: ROOT, stdio: ["ignore", "ignore", "inherit"], env: { ...process.env, PYTHONPATH: ROOT, HF_HUB_OFFLINE: "1" },
});
let worker;
const result = {
  machine: machine(), model_version: manifest.version,
  load: { rounds: Number(opt.rounds), duration_s: Number(opt.duration), connections: Number(opt.connections), inputs: "banking77 test.jsonl, cycled" },
};
try {
  // The Worker's load is spread over 16 keys of the account (many clients): one key's rate limit,
  // 3000 requests a minute, is below what two rounds of this load ask for.
  worker = await startWorker({ root: ROOT, artifactDir, port: Number(opt.port), name: "peer-worker-state", log, keys: 16 });
  await waitForHealth(peerBase);
  const peerHeaders = { "content-type": "application/json" };
  const peerPost = async (route, body) => {
    const res = await fetch(`${peerBase}${route}`, { method: "POST", headers: peerHeaders, body: JSON.stringify(body) });
    if (!res.ok) throw new Error(`peer ${route}: ${res.status} ${(await res.text()).slice(0, 300)}`);
    return res.json();
  };
  const taskBody = {
    agentId: worker.agentId, name: "banking77 intents", kind: "classification", labels, confidenceThreshold: 0,
    examples: train.map((r) => ({ input: r.text, label: r.label })),
  };
  const services = {
    worker: { post: worker.post, base: worker.base, headers: worker.headers, headersFor: worker.headersFor, rss: () => worker.rss() },
    peer: { post: peerPost, base: peerBase, headers: peerHeaders, rss: () => rssMb(peerProc.pid) },
  };
  for (const [name, s] of Object.entries(services)) {
    const t0 = performance.now();
    s.task = await s.post("/tasks", taskBody);
    s.createMs = performance.now() - t0;
    // Until every example is featurised (the Worker encodes a bounded number per request: the reason
    // names the rest), so that both sides answer from the whole support set.
    let first;
    for (let i = 0; i < 40; i++) {
      first = await s.post("/execute_task", { taskId: s.task.id, input: INPUT });
      if (!/still being featurised/.test(first.pathReason ?? "")) break;
    }
    if (first.path !== "model") throw new Error(`${name}: expected the model path, got ${first.path}`);
    log(`${name}: task of ${train.length} examples created in ${s.createMs.toFixed(0)} ms`);
  }
  // Accuracy on the same test queries, sequentially (also warms both up).
  const n = Math.min(Number(opt.accuracy), test.length);
  for (const s of Object.values(services)) {
    let correct = 0;
    for (let i = 0; i < n; i++) {
      const e = await s.post("/execute_task", { taskId: s.task.id, input: test[i].text });
      if (e.predictedLabel === test[i].label) correct += 1;
    }
    s.accuracy = n ? Number((correct / n).toFixed(3)) : null;
  }
  const load = async (s) => {
    let sent = 0; // each request with the next of the service's keys (the peer has none) and the next test text
    let answered = 0;
    let right = 0;
    const r = await autocannon({
      url: `${s.base}/execute_task`, method: "POST", headers: s.headers, body: JSON.stringify({ taskId: s.task.id, input: INPUT }),
      duration: Number(opt.duration), connections: Number(opt.connections),
      requests: [{
        setupRequest: (req, context) => {
          const i = sent++;
          context.truth = test[i % test.length].label;
          const body = JSON.stringify({ taskId: s.task.id, input: test[i % test.length].text });
          return { ...req, body, headers: { ...req.headers, ...(s.headersFor ? s.headersFor(i) : {}) } };
        },
        onResponse: (status, body, context) => {
          if (status !== 200) return;
          answered += 1;
          try {
            if (JSON.parse(body).predictedLabel === context.truth) right += 1;
          } catch { /* counted as wrong */ }
        },
      }],
    });
    return {
      requests_per_s: r.requests.mean, accuracy_under_load: answered ? Number((right / answered).toFixed(4)) : null, answered, latency_ms: { p50: r.latency.p50, p90: r.latency.p90, p99: r.latency.p99 },
      requests: r.requests.total, errors: r.errors, non2xx: r.non2xx, timeouts: r.timeouts, status_codes: r.statusCodeStats, rss_mb_after: s.rss(),
    };
  };
  for (const s of Object.values(services)) s.rounds = [];
  for (let round = 1; round <= Number(opt.rounds); round++) {
    for (const [name, s] of Object.entries(services)) {
      const r = await load(s);
      s.rounds.push(r);
      log(`round ${round} ${name}: ${r.requests_per_s.toFixed(1)} req/s, p50 ${r.latency_ms.p50} ms, p99 ${r.latency_ms.p99} ms, ${r.errors + r.non2xx} failed`);
    }
  }
  const mean = (xs) => Number((xs.reduce((a, b) => a + b, 0) / xs.length).toFixed(2));
  const summary = (s) => ({
    requests_per_s: mean(s.rounds.map((r) => r.requests_per_s)),
    p50_ms: mean(s.rounds.map((r) => r.latency_ms.p50)),
    p99_ms: mean(s.rounds.map((r) => r.latency_ms.p99)),
    accuracy_under_load: Number((s.rounds.reduce((a, r) => a + r.accuracy_under_load * r.answered, 0) / Math.max(1, s.rounds.reduce((a, r) => a + r.answered, 0))).toFixed(4)),
    failed: s.rounds.reduce((a, r) => a + r.errors + r.non2xx + r.timeouts, 0),
    rss_mb: Math.max(...s.rounds.map((r) => r.rss_mb_after)),
    create_task_ms: Math.round(s.createMs),
    accuracy_first_n_test: s.accuracy, accuracy_n: n,
    rounds: s.rounds,
  });
  const w = summary(services.worker);
  const p = summary(services.peer);
  result.worker = w;
  result.peer = p;
  result.ratios_worker_over_peer = {
    requests_per_s: Number((w.requests_per_s / p.requests_per_s).toFixed(2)),
    p50: Number((w.p50_ms / p.p50_ms).toFixed(2)),
    p99: Number((w.p99_ms / p.p99_ms).toFixed(2)),
    accuracy_under_load: Number((w.accuracy_under_load / p.accuracy_under_load).toFixed(3)),
    rss: Number((w.rss_mb / p.rss_mb).toFixed(2)),
  };
  if (w.failed || p.failed) throw new Error(`failed requests under load: worker ${w.failed}, peer ${p.failed}`);
} finally {
  worker?.stop();
  peerProc.kill("SIGTERM");
}
const text = JSON.stringify(result, null, 2);
if (opt.out) writeFileSync(opt.out, text + "\n");
console.log(text);
