#!/usr/bin/env node
// npm run calibrate -- [--artifact DIR] [--out DIR] [--fit-with DIR] [--episodes E] [--objective targets|balance]
// Fits the in-scope factor of the confidence (functions/model/confidence.ts) for an artifact and writes
// a calibrated copy: the same files, its manifest with `calibration` and a version ending in "-cal".
// --fit-with runs the episodes on another artifact: the artifact's twin whose encoder never saw SGD's
// labels (python -m training default --encoder transformer-meta-calibration), for an artifact whose encoder
// did, so that SGD stands for a domain the encoder has not seen, as a customer's does.
//
// Data: only ../shared/data/sgd (multi-domain user turns kept for source tasks, never an evaluation
// target). Each episode is a task of some SGD intents (5 or 10 shots of each, from train.jsonl) whose
// queries are those intents' test turns, while the turns of the intents left out are its out-of-scope
// inputs — as a customer's bot meets messages none of its labels covers. The episodes run through the
// production model code in workerd (scripts/eval.worker.ts). The grid search picks the center and scale
// by the cascade's product targets at the default threshold (`targets`, the default): among the settings
// that send at least 80 % of out-of-scope inputs to the LLM and keep the model's own answers at least
// 95 % right, the one that answers the most in-scope inputs; where none meets both on the episodes, the
// `balance` objective decides — the mean of the out-of-scope share routed and the in-scope share
// answered. CLINC150's oos split stays the held-out test (`npm run eval`).
import { copyFileSync, existsSync, mkdirSync, writeFileSync } from "node:fs";
import { join, resolve } from "node:path";
import { parseArgs } from "node:util";
import { describeArtifact, resolveArtifact, verifyArtifact } from "./artifact.mjs";
import { cascade, confidenceWith, DEFAULT_THRESHOLD, pool } from "./cascade.mjs";
import { byLabel, readJsonl, rng, shuffle as shuffleWith } from "./episodes.mjs";
import { startEvalWorker } from "./worker-client.mjs";
import { guardWorkerd } from "./workerd-guard/guard.mjs";

guardWorkerd(); // before workerd starts (scripts/workerd-guard/guard.mjs)
const ROOT = resolve(import.meta.dirname, "..");
const { values: opt } = parseArgs({ options: { artifact: { type: "string" }, out: { type: "string" }, "fit-with": { type: "string" }, episodes: { type: "string", default: "24" }, seed: { type: "string", default: "7" }, objective: { type: "string", default: "targets" } } });
// The cascade's product targets (docs/benchmarks.md "Confidence and the cascade").
const TARGETS = { oosToLlm: 0.8, answeredAccuracy: 0.95 };
if (!["targets", "balance"].includes(opt.objective)) {
  console.error(`[calibrate] --objective must be targets or balance, not ${opt.objective}`);
  process.exit(2);
}
const DATA = resolve(process.env.ADAPTAGENT_DATA_DIR ?? resolve(ROOT, "../shared/data"));
const log = (m) => console.error(`[calibrate] ${m}`);
const src = (f) => join(DATA, "sgd", f);
if (!existsSync(src("train.jsonl"))) {
  console.error(`[calibrate] needs ${src("train.jsonl")} (ADAPTAGENT_DATA_DIR)`);
  process.exit(2);
}
const artifactDir = resolveArtifact(opt.artifact);
const { manifest } = verifyArtifact(artifactDir);
log(describeArtifact(artifactDir, manifest));
const fitDir = opt["fit-with"] ? resolveArtifact(opt["fit-with"]) : artifactDir;
const fitManifest = fitDir === artifactDir ? manifest : verifyArtifact(fitDir).manifest;
if (fitDir !== artifactDir) log(`episodes run on ${describeArtifact(fitDir, fitManifest)}`);
const outDir = resolve(opt.out ?? join(ROOT, ".cache", "models", `${manifest.version.replace(/-cal$/, "")}-cal`));

const rows = (f) => readJsonl(src(f)).map(({ text, label }) => ({ text, label }));
const train = byLabel(rows("train.jsonl"));
const test = byLabel(rows("test.jsonl"));
const intents = [...train.keys()].filter((l) => train.get(l).length >= 10 && (test.get(l)?.length ?? 0) > 0).sort();

const rand = rng(Number(opt.seed)); // the same episodes on every run
const shuffle = (xs) => shuffleWith(xs, rand);

const worker = await startEvalWorker(fitDir);
const inScope = [];
const outOfScope = [];
try {
  const episodes = Number(opt.episodes);
  for (let e = 0; e < episodes; e++) {
    const shots = e % 2 ? 10 : 5;
    const ways = [2, 5, 10, 20][e % 4]; // small tasks (a customer's first) to large ones
    const order = shuffle(intents);
    const labels = order.slice(0, ways);
    const held = order.slice(ways);
    const support = labels.flatMap((l) => shuffle(train.get(l)).slice(0, shots));
    const query = labels.flatMap((l) => shuffle(test.get(l)).slice(0, 20));
    const oos = shuffle(held.flatMap((l) => shuffle(test.get(l)).slice(0, 10))).slice(0, 200);
    const r = JSON.parse(await worker.call("/episode", { method: "POST", body: JSON.stringify({ support, query, oos }) }));
    inScope.push(r.scored);
    outOfScope.push(r.oos);
    log(`episode ${e + 1}/${episodes}: ${ways}-way ${shots}-shot, ${query.length} in-scope, ${oos.length} out-of-scope`);
  }
} finally {
  await worker.dispose();
}

const ins = pool(inScope);
const outs = pool(outOfScope);
const figures = (cal) => {
  const f = confidenceWith(cal);
  return cascade({ confidence: ins.p.map((p, i) => f(p, ins.sim[i])), correct: ins.correct }, { confidence: outs.p.map((p, i) => f(p, outs.sim[i])) });
};
const grid = [];
for (let center = 0.1; center <= 0.95; center += 0.01) {
  for (const scale of [5, 10, 20, 40, 80, 160, 320]) {
    const cal = { center: Number(center.toFixed(2)), scale };
    grid.push({ cal, f: figures(cal) });
  }
}
const balance = ({ f }) => (f.oos_to_llm + f.in_scope_answered_by_model) / 2;
const meetsTargets = ({ f }) => f.oos_to_llm >= TARGETS.oosToLlm && (f.answered_accuracy ?? 0) >= TARGETS.answeredAccuracy;
const feasible = opt.objective === "targets" ? grid.filter(meetsTargets) : [];
// first best wins ties: the grid's order (center, then scale) decides, as before
const argmax = (xs, score) => xs.reduce((a, b) => (score(b) > score(a) ? b : a));
const best = feasible.length ? argmax(feasible, ({ f }) => f.in_scope_answered_by_model) : argmax(grid, balance);
const objective = feasible.length
  ? `the most in-scope inputs answered by the model among settings that route >= ${TARGETS.oosToLlm * 100} % of out-of-scope inputs to the LLM at >= ${TARGETS.answeredAccuracy * 100} % answered accuracy, at the default threshold`
  : "mean of out-of-scope routed to the LLM and in-scope answered by the model, at the default threshold";
if (opt.objective === "targets" && !feasible.length) log("no setting meets the cascade targets on these episodes: balancing routed and answered instead");
const plain = cascade({ confidence: ins.p, correct: ins.correct }, { confidence: outs.p });
log(`plain softmax at ${DEFAULT_THRESHOLD}: ${JSON.stringify(plain)}`);
log(`fitted center ${best.cal.center}, scale ${best.cal.scale}: ${JSON.stringify(best.f)}`);

const calibration = {
  kind: "nearest-similarity", center: best.cal.center, scale: best.cal.scale,
  fitted_on: `sgd: ${Number(opt.episodes)} episodes of 2-20 intents x 5/10 shots, held-out intents as out-of-scope (scripts/calibrate.mjs, seed ${opt.seed})`,
  objective,
  threshold: DEFAULT_THRESHOLD, source_figures: best.f, source_figures_uncalibrated: plain,
  ...(fitDir !== artifactDir ? { fitted_with: { version: fitManifest.version, encoder: fitManifest.encoder.tag, teacher: fitManifest.encoder.teacher } } : {}),
};
mkdirSync(outDir, { recursive: true });
if (outDir !== resolve(artifactDir)) for (const f of manifest.files) copyFileSync(join(artifactDir, f.name), join(outDir, f.name));
const version = manifest.version.endsWith("-cal") ? manifest.version : `${manifest.version}-cal`;
// indent 1, as the training job writes manifests (training/export.py)
writeFileSync(join(outDir, "manifest.json"), JSON.stringify({ ...manifest, version, calibration }, null, 1) + "\n");
verifyArtifact(outDir);
log(`wrote ${outDir} (model version ${version})`);
console.log(JSON.stringify({ version, out: outDir, calibration }, null, 2));
