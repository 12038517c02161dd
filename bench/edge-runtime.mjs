#!/usr/bin/env node
// node bench/edge-runtime.mjs [--artifact DIR] [--out FILE]
// Edge model runtime inside workerd (wrangler's startWorker, bench/edge.worker.ts -> functions/model):
// adaptation latency (5/10 shots × 10/77/150 labels, plus a ~290-label × 20-shot stress case), per-input
// encoding latency, and workerd's memory growth with the model loaded. Baselines in the same run: a
// no-op request (client timings) and an empty loop (in-Worker timings). Results: JSON on stdout.
import { writeFileSync } from "node:fs";
import { resolve } from "node:path";
import { parseArgs } from "node:util";
import { unstable_startWorker } from "wrangler";
import { describeArtifact, publishThroughWorker, resolveArtifact, verifyArtifact } from "../scripts/artifact.mjs";
import { guardWorkerd } from "../scripts/workerd-guard/guard.mjs";
import { workerCaller } from "../scripts/worker-client.mjs";
import { machine, readJsonl, rssMb, stats, workerdPids } from "./lib.mjs";

const ROOT = resolve(import.meta.dirname, "..");
guardWorkerd(); // before workerd starts (scripts/workerd-guard/guard.mjs)
const DATA = resolve(process.env.ADAPTAGENT_DATA_DIR ?? resolve(ROOT, "../shared/data"));
const { values: opt } = parseArgs({ options: { artifact: { type: "string" }, out: { type: "string" }, reps: { type: "string", default: "30" } } });
const artifactDir = resolveArtifact(opt.artifact);
const reps = Number(opt.reps);
const log = (m) => console.error(`[bench] ${m}`);
log(describeArtifact(artifactDir, verifyArtifact(artifactDir).manifest));

const worker = await unstable_startWorker({
  config: resolve(ROOT, "wrangler.toml"),
  entrypoint: resolve(ROOT, "bench/edge.worker.ts"),
  triggers: [],
  dev: { persist: false, watch: false, inspector: false, logLevel: "error", server: { hostname: "127.0.0.1", port: 0 } },
});
const result = { machine: machine(), artifact: artifactDir };
try {
  await worker.ready;
  const call = workerCaller(worker, "http://bench"); // retries a request lost in wrangler's proxy
  const timed = async (path, n) => {
    const out = [];
    for (let i = 0; i < n; i++) {
      const t0 = performance.now();
      await call(path);
      out.push(performance.now() - t0);
    }
    return out;
  };
  // Memory before anything of ORT or the model exists in the isolate.
  await timed("/noop", 20);
  const pids = workerdPids();
  const rss = () => Math.max(...pids.map(rssMb));
  const rssBefore = rss();

  const manifest = await publishThroughWorker(call, artifactDir);
  const rssAfterUpload = rss(); // R2 objects live in workerd's local storage, not in the isolate
  await call("/ort-init");
  const rssOrt = rss();
  const t0 = performance.now();
  result.model = JSON.parse(await call("/load"));
  result.cold_load_ms = Number((performance.now() - t0).toFixed(1));
  const rssLoaded = rss();
  const wasmMb = async () => Number((JSON.parse(await call("/wasm")).wasm_memory_bytes / 2 ** 20).toFixed(1));
  const wasmLoaded = await wasmMb();

  // Adaptation latency.
  const sets = {
    banking77: { 5: readJsonl(resolve(DATA, "banking77/train_5.jsonl")), 10: readJsonl(resolve(DATA, "banking77/train_10.jsonl")) },
    clinc150: { 5: readJsonl(resolve(DATA, "clinc150/train_5.jsonl")), 10: readJsonl(resolve(DATA, "clinc150/train_10.jsonl")) },
  };
  const pick = (rows, labels, shots) => labels.flatMap((l) => rows.filter((r) => r.label === l).slice(0, shots));
  const cases = [];
  for (const shots of [5, 10]) {
    const b = sets.banking77[shots];
    const bl = [...new Set(b.map((r) => r.label))].sort();
    cases.push({ name: `10 labels x ${shots} shots`, support: pick(b, bl.slice(0, 10), shots) });
    cases.push({ name: `77 labels x ${shots} shots`, support: pick(b, bl, shots) });
    const c = sets.clinc150[shots];
    cases.push({ name: `150 labels x ${shots} shots`, support: pick(c, [...new Set(c.map((r) => r.label))].sort(), shots) });
  }
  // Stress: every label of the three sets (~290), 20 shots each from train.jsonl (~5800 examples).
  const stress = ["clinc150", "banking77", "hwu64"].flatMap((s) => {
    const rows = readJsonl(resolve(DATA, s, "train.jsonl")).map((r) => ({ text: r.text, label: `${s}/${r.label}` }));
    return pick(rows, [...new Set(rows.map((r) => r.label))], 20);
  });
  cases.push({ name: `${new Set(stress.map((r) => r.label)).size} labels x 20 shots (stress)`, support: stress });

  const noop = stats(await timed("/noop", reps * 2));
  result.client_noop_ms = noop;
  result.adaptation = [];
  for (const c of cases) {
    const key = encodeURIComponent(c.name);
    log(`${c.name}: featurising ${c.support.length} examples …`);
    let prep;
    for (let i = 0; i < c.support.length; i += 500) {
      const part = c.support.slice(i, i + 500);
      prep = JSON.parse(await call("/prepare", { method: "POST", body: JSON.stringify({ key: c.name, support: part, labels: part.map((s) => s.label), first: i === 0 }) }));
    }
    log(`${c.name}: adapting …`);
    await call(`/adapt?key=${key}`); // warm
    const client = stats(await timed(`/adapt?key=${key}`, c.support.length > 3000 ? 10 : reps));
    const inWorker = c.support.length > 3000 ? null : stats(JSON.parse(await call(`/adapt-loop?key=${key}`)));
    result.adaptation.push({ case: c.name, ways: prep.ways, support: prep.support, client_ms: client, client_minus_noop_median_ms: Number((client.median - noop.median).toFixed(3)), in_worker_ms: inWorker });
    log(`${c.name}: client median ${client.median} ms (noop ${noop.median}), in-worker ${inWorker ? `${inWorker.median} ms` : "not measured"}`);
  }
  const rssAdapted = rss();
  const wasmAdapted = await wasmMb();

  // Per-input encoding latency, 16 tokens with [CLS]/[SEP].
  const text16 = "i still have not received my new card that i ordered two weeks ago";
  const enc = JSON.parse(await call(`/encode-loop?text=${encodeURIComponent(text16)}`));
  result.encode = {
    text: text16, tokens: enc.tokens,
    empty_loop_ms: stats(enc.baseline),
    tokenize_and_table_ms: stats(enc.tokenizeAndTable),
    tokenize_table_and_adapter_ms: stats(enc.withAdapter),
  };
  log(`encode ${enc.tokens} tokens: table ${result.encode.tokenize_and_table_ms.median} ms, +adapter ${result.encode.tokenize_table_and_adapter_ms.median} ms`);
  // The longest input the encoder reads (the transformer's cap is 64 tokens): the bound on one encode.
  const textLong = "i still have not received my new card that i ordered two weeks ago and i would like to know where it is because i need to pay for my rent and groceries this week and the old card has already expired so please tell me";
  const encLong = JSON.parse(await call(`/encode-loop?text=${encodeURIComponent(textLong)}`));
  result.encode_long = { tokens: encLong.tokens, tokenize_table_and_adapter_ms: stats(encLong.withAdapter) };
  log(`encode ${encLong.tokens} tokens: ${result.encode_long.tokenize_table_and_adapter_ms.median} ms`);
  // Where an execution's time goes inside the Worker (model path, no LLM; 77 labels x 5 shots).
  const test = readJsonl(resolve(DATA, "banking77/test.jsonl"));
  const prof = JSON.parse(await call("/profile", { method: "POST", body: JSON.stringify({ support: sets.banking77[5], inputs: test.slice(0, 60).map((r) => r.text) }) }));
  result.execution_profile_in_worker = {
    note: "performance.now() inside workerd has 1 ms resolution here: medians of integer samples",
    iterations: prof.iterations, ways: prof.ways, support: prof.support,
    median_ms: prof.median_ms,
    executeTask_ms: stats(prof.samples_ms.executeTask),
  };
  log(`execution profile (in Worker): ${JSON.stringify(prof.median_ms)}`);
  result.memory_mb = {
    workerd_rss_before_model: rssBefore, after_r2_upload: rssAfterUpload, after_ort_backend_init: rssOrt, after_model_load: rssLoaded,
    ort_backend: Number((rssOrt - rssAfterUpload).toFixed(1)), model_over_ort: Number((rssLoaded - rssOrt).toFixed(1)),
    after_adaptations_and_encoding: rss(), growth_with_model_loaded: Number((rssLoaded - rssAfterUpload).toFixed(1)),
    growth_total: Number((rss() - rssAfterUpload).toFixed(1)), workerd_processes: pids.length,
    ort_wasm_memory_after_load: wasmLoaded, ort_wasm_memory_after_adaptations: wasmAdapted, ort_wasm_memory_at_end: await wasmMb(),
    artifact_file_bytes: Object.fromEntries(manifest.files.map((f) => [f.name, f.bytes])),
  };
  void rssAdapted;
} finally {
  await worker.dispose();
}
const text = JSON.stringify(result, null, 2);
if (opt.out) writeFileSync(opt.out, text + "\n");
console.log(text);
