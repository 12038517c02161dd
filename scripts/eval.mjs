#!/usr/bin/env node
// npm run eval -- --data DIR --shots K --way N|all --episodes E [--json] [--artifact DIR] [--seed S]
// (--artifact defaults to the shipped models/default; stderr names the model version evaluated)
//   [--query-per-label Q] [--threshold T] [--tradeoff: with an oos split, the cascade at thresholds 0.05-0.95]
// Few-shot evaluation of the edge code path: starts scripts/eval.worker.ts in workerd (wrangler's
// programmatic API, local D1/R2 in memory), publishes the artifact into its R2, then runs E episodes —
// the same episodes for the adapted model and the frozen-encoder baselines — and prints one JSON object.
// DIR is laid out like ../shared/data/<set>/: train_K.jsonl (else train.jsonl) is the support pool,
// test.jsonl the query set. See docs/edge-runtime.md.
import { existsSync } from "node:fs";
import { basename, resolve } from "node:path";
import { format, parseArgs } from "node:util";
import { byLabel, readJsonl, rng, shuffle } from "./episodes.mjs";
import { startEvalWorker } from "./worker-client.mjs";
import { cascade, DEFAULT_THRESHOLD, pool as poolScores } from "./cascade.mjs";
import { ArtifactError, describeArtifact, resolveArtifact, verifyArtifact } from "./artifact.mjs";
import { guardWorkerd } from "./workerd-guard/guard.mjs";

guardWorkerd(); // before workerd starts (scripts/workerd-guard/guard.mjs)
// stdout carries exactly one JSON object: wrangler's own console output (e.g. the offline Request.cf
// warning) goes to stderr.
const toStderr = (...args) => process.stderr.write(format(...args) + "\n");
console.log = console.info = console.warn = console.debug = toStderr;
const { values: opt } = parseArgs({
  options: {
    data: { type: "string" },
    shots: { type: "string", default: "5" },
    way: { type: "string", default: "all" },
    episodes: { type: "string", default: "1" },
    "query-per-label": { type: "string", default: "0" },
    seed: { type: "string", default: "0" },
    artifact: { type: "string" },
    threshold: { type: "string", default: String(DEFAULT_THRESHOLD) },
    tradeoff: { type: "boolean", default: false },
    json: { type: "boolean", default: false },
  },
});

function fail(message) {
  console.error(`eval: ${message}`);
  process.exit(2);
}

if (!opt.data) fail("--data DIR is required (a directory like ../shared/data/banking77)");
const dataDir = resolve(opt.data);
const shots = Number(opt.shots);
const episodes = Number(opt.episodes);
const perLabel = Number(opt["query-per-label"]);
if (!Number.isInteger(shots) || shots < 1) fail("--shots must be a positive integer");
if (!Number.isInteger(episodes) || episodes < 1) fail("--episodes must be a positive integer");
if (opt.way !== "all" && !(Number.isInteger(Number(opt.way)) && Number(opt.way) >= 2)) fail("--way must be an integer >= 2 or 'all'");
let artifactDir;
try {
  artifactDir = resolveArtifact(opt.artifact);
  console.error(`eval: ${describeArtifact(artifactDir, verifyArtifact(artifactDir).manifest)}`);
} catch (error) {
  if (!(error instanceof ArtifactError)) throw error;
  fail(error.message);
}

const poolFile = existsSync(resolve(dataDir, `train_${shots}.jsonl`)) ? `train_${shots}.jsonl` : "train.jsonl";
if (!existsSync(resolve(dataDir, poolFile)) || !existsSync(resolve(dataDir, "test.jsonl"))) fail(`${dataDir} needs ${poolFile} and test.jsonl`);
const pool = readJsonl(resolve(dataDir, poolFile));
const test = readJsonl(resolve(dataDir, "test.jsonl"));
// Out-of-scope inputs (CLINC150's oos_test.jsonl): posted with every episode for the cascade's figures.
const oosFile = resolve(dataDir, "oos_test.jsonl");
const oos = existsSync(oosFile) ? readJsonl(oosFile).map(({ text, label }) => ({ text, label })) : null;
const threshold = Number(opt.threshold);

const poolBy = byLabel(pool);
const testBy = byLabel(test);
const allLabels = [...poolBy.keys()].filter((l) => poolBy.get(l).length >= shots && testBy.has(l)).sort();
const ways = opt.way === "all" ? allLabels.length : Number(opt.way);
if (ways > allLabels.length) fail(`--way ${ways}: only ${allLabels.length} labels have ${shots} support and some test rows`);

function makeEpisode(e) {
  const r = rng(Number(opt.seed) * 1000003 + e);
  const labels = opt.way === "all" ? allLabels : shuffle(allLabels, r).slice(0, ways).sort();
  const support = labels.flatMap((l) => shuffle(poolBy.get(l), r).slice(0, shots));
  const query = labels.flatMap((l) => (perLabel > 0 ? shuffle(testBy.get(l), r).slice(0, perLabel) : testBy.get(l)));
  return { support: support.map(({ text, label }) => ({ text, label })), query: query.map(({ text, label }) => ({ text, label })), ...(oos ? { oos } : {}) };
}

const log = (m) => !opt.json && console.error(m);
const worker = await startEvalWorker(artifactDir); // the artifact published and active in its R2 + D1
try {
  const { call } = worker;

  const acc = { adapted: [], adaptedWithoutLexical: [], prototypes: [], logreg: [] };
  let queries = 0;
  let model = null;
  const adaptMs = [];
  const scoredIn = [];
  const scoredOos = [];
  for (let e = 0; e < episodes; e++) {
    const ep = makeEpisode(e);
    const r = JSON.parse(await call("/episode", { method: "POST", body: JSON.stringify(ep) }));
    for (const k of Object.keys(acc)) acc[k].push(r[k] / r.n);
    queries += r.n;
    model = r.model;
    adaptMs.push(r.adaptMs);
    scoredIn.push(r.scored);
    if (r.oos) scoredOos.push(r.oos);
    log(`episode ${e + 1}/${episodes}: ${r.ways}-way ${shots}-shot, ${r.n} queries: adapted ${(r.adapted / r.n).toFixed(4)} prototypes ${(r.prototypes / r.n).toFixed(4)} logreg ${(r.logreg / r.n).toFixed(4)}`);
  }
  // ci95 over episodes; with one episode, the binomial interval over its queries.
  const summary = (xs) => {
    const mean = xs.reduce((a, b) => a + b, 0) / xs.length;
    const half = xs.length > 1
      ? 1.96 * Math.sqrt(xs.reduce((a, b) => a + (b - mean) ** 2, 0) / (xs.length - 1) / xs.length)
      : 1.96 * Math.sqrt((mean * (1 - mean)) / queries);
    return { accuracy: Number(mean.toFixed(4)), ci95: Number(half.toFixed(4)) };
  };
  const inScope = poolScores(scoredIn);
  const plain = (s) => ({ ...s, confidence: s.p }); // the winning probability alone, as before calibration
  const result = {
    adapted: summary(acc.adapted),
    // The head alone, without the lexical evidence of the task's examples (equal when the artifact has none).
    adapted_without_lexical: summary(acc.adaptedWithoutLexical),
    prototypes: summary(acc.prototypes),
    logreg: summary(acc.logreg),
    // With an oos split: the cascade at the threshold, with the reported confidence and with the plain softmax.
    ...(oos ? {
      cascade: cascade(inScope, poolScores(scoredOos), threshold),
      cascade_uncalibrated: cascade(plain(inScope), plain(poolScores(scoredOos)), threshold),
      calibration: model?.calibration ?? null,
      // --tradeoff: the same figures at every threshold from 0.05 to 0.95, for the trade-off plot.
      ...(opt.tradeoff ? {
        tradeoff: Array.from({ length: 19 }, (_, i) => Number((0.05 * (i + 1)).toFixed(2))).map((t) => ({
          threshold: t,
          calibrated: cascade(inScope, poolScores(scoredOos), t),
          plain: cascade(plain(inScope), plain(poolScores(scoredOos)), t),
        })),
      } : {}),
    } : {}),
    setting: {
      data: dataDir, set: basename(dataDir), support_pool: poolFile, shots, way: opt.way === "all" ? "all" : ways, ways,
      episodes, queries, query_per_label: perLabel || "all", seed: Number(opt.seed),
      model_version: model?.version, algorithm: model?.algorithm, encoder: model?.encoder, adaptation_steps: model?.steps,
      lexical: model?.lexical ?? null,
      runtime: "workerd via wrangler unstable_startWorker (scripts/eval.worker.ts -> functions/model)",
      ci95: episodes > 1 ? "1.96 x standard error over episodes" : "1.96 x binomial standard error over queries",
    },
  };
  process.stdout.write((opt.json ? JSON.stringify(result) : JSON.stringify(result, null, 2)) + "\n");
} finally {
  await worker.dispose();
}
