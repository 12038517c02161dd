#!/usr/bin/env node
// node bench/edge-http.mjs [--artifact DIR] [--out FILE] [--duration S] [--connections C]
// executeTask over HTTP against `wrangler dev` (the real Worker: workers/index.ts, local D1/R2 in a
// throwaway --persist-to folder): latency of sequential POST /execute_task on a 77-label × 5-shot
// banking77 task answered by the model alone (threshold 0: no LLM call), requests/s under autocannon,
// and the memory of wrangler dev's workerd process. Baseline in the same run: GET /health.
import { writeFileSync } from "node:fs";
import { resolve } from "node:path";
import { parseArgs } from "node:util";
import autocannon from "autocannon";
import { guardWorkerd } from "../scripts/workerd-guard/guard.mjs";
import { benchArtifact, DATA, machine, readJsonl, ROOT, startWorker, stats } from "./lib.mjs";

guardWorkerd(); // before wrangler dev starts workerd (scripts/workerd-guard/guard.mjs)
const { values: opt } = parseArgs({
  options: {
    artifact: { type: "string" }, out: { type: "string" }, port: { type: "string", default: "8799" },
    duration: { type: "string", default: "15" }, connections: { type: "string", default: "4" }, requests: { type: "string", default: "200" },
  },
});
const log = (m) => console.error(`[bench] ${m}`);
const { artifactDir, manifest } = benchArtifact(opt.artifact, log);
const port = Number(opt.port);
const worker = await startWorker({ root: ROOT, artifactDir, port, log });
const { post, health, agentId } = worker;
const result = { machine: machine(), artifact: artifactDir, model_version: manifest.version };
try {
  const { headers, base } = worker;
  const timed = async (n, fn) => {
    const out = [];
    for (let i = 0; i < n; i++) {
      const t0 = performance.now();
      await fn(i);
      out.push(performance.now() - t0);
    }
    return stats(out);
  };
  const pids = worker.pids();
  const rss = worker.rss;
  await timed(20, health);
  const rssBefore = rss();

  const train = readJsonl(resolve(DATA, "banking77/train_5.jsonl"));
  const labels = [...new Set(train.map((r) => r.label))].sort();
  const test = readJsonl(resolve(DATA, "banking77/test.jsonl"));
  const task = await post("/tasks", {
    agentId, name: "banking77 intents", kind: "classification", labels, confidenceThreshold: 0,
    examples: train.map((r) => ({ input: r.text, label: r.label })),
  });
  const first = await post("/execute_task", { taskId: task.id, input: test[0].text });
  result.first_execution = { path: first.path, path_reason: first.pathReason ?? first.path_reason, latency_ms_recorded: first.latencyMs };
  const rssLoaded = rss();
  const n = Number(opt.requests);
  const healthMs = await timed(n, health);
  let correct = 0;
  const execute = await timed(n, async (i) => {
    const t = test[(i * 7) % test.length];
    const e = await post("/execute_task", { taskId: task.id, input: t.text });
    if (e.path !== "model") throw new Error(`expected the model path, got ${e.path}`);
    if (e.predictedLabel === t.label) correct += 1;
  });
  result.sequential = { requests: n, health_ms: healthMs, execute_task_ms: execute, execute_accuracy: Number((correct / n).toFixed(3)) };
  log(`sequential: health p50 ${healthMs.median} ms, execute_task p50 ${execute.median} ms`);

  const load = async (opts) => {
    const r = await autocannon({ duration: Number(opt.duration), connections: Number(opt.connections), ...opts });
    return { requests_per_s: { mean: r.requests.mean, p50: r.requests.p50, stddev: r.requests.stddev }, latency_ms: { p50: r.latency.p50, p90: r.latency.p90, p99: r.latency.p99, mean: r.latency.mean }, errors: r.errors, non2xx: r.non2xx, timeouts: r.timeouts };
  };
  const loadHealth = await load({ url: `${base}/health` });
  const loadExecute = await load({ url: `${base}/execute_task`, method: "POST", headers, body: JSON.stringify({ taskId: task.id, input: "my card has not arrived yet, what should i do?" }) });
  result.autocannon = { duration_s: Number(opt.duration), connections: Number(opt.connections), health: loadHealth, execute_task: loadExecute };
  log(`autocannon: health ${loadHealth.requests_per_s.mean} req/s, execute_task ${loadExecute.requests_per_s.mean} req/s (p50 ${loadExecute.latency_ms.p50} ms)`);
  result.memory_mb = {
    workerd_processes: pids.length, rss_before_model: rssBefore, rss_model_loaded_and_adapted: rssLoaded, rss_after_load_test: rss(),
    growth_with_model: Number((rssLoaded - rssBefore).toFixed(1)), growth_after_load_test: Number((rss() - rssBefore).toFixed(1)),
  };
} finally {
  worker.stop();
}
const text = JSON.stringify(result, null, 2);
if (opt.out) writeFileSync(opt.out, text + "\n");
console.log(text);
