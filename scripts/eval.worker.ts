// The Worker `npm run eval` starts in workerd (scripts/eval.mjs): the production model code —
// functions/model's loader (D1 model_versions + R2, sha256 checks), static encoder, adapter, adapt.onnx
// and head.onnx — run on episodes posted by the Node driver, beside the frozen-encoder baselines.
import { depsFor } from "../functions/deps";
import { getActiveModel } from "../functions/predictions";
import { waysOf } from "../functions/model/adaptation";
import { calibratedConfidence } from "../functions/model/confidence";
import { softmax, type LoadedModel } from "../functions/model/runtime";
import { nearest, type Support } from "../functions/model/support";
import { logisticRegression, prototypes } from "./eval.baselines";

// Embeddings by model version and text: episodes share their texts, and the transformer costs ~10 ms a
// text, so each text is encoded once per run (the production encoder; the memo is eval's alone).
const memo = new Map<string, Float32Array>();

async function embeddings(model: LoadedModel, texts: string[]): Promise<Float32Array> {
  const dim = model.encoder.dim;
  const key = (t: string) => `${model.version}\u0000${t}`;
  if (memo.size > 8000) memo.clear(); // ~12 MB of vectors: the isolate's budget is the model's
  const missing = [...new Set(texts.filter((t) => !memo.has(key(t))))];
  const fresh = await model.encoder.encode(missing);
  missing.forEach((t, i) => memo.set(key(t), fresh.slice(i * dim, (i + 1) * dim)));
  const out = new Float32Array(texts.length * dim);
  texts.forEach((t, i) => out.set(memo.get(key(t))!, i * dim));
  return out;
}

interface Item {
  text: string;
  label: string;
}

/** Per input, as an execution sees it: winning probability, similarity to the nearest support example,
 *  the reported (calibrated) confidence, and the winning way. */
interface Scored {
  p: number[];
  sim: number[];
  confidence: number[];
  best: number[];
}

async function episode(env: Env, body: { support: Item[]; query: Item[]; oos?: Item[] }): Promise<Response> {
  const model = await getActiveModel(depsFor(env, "eval"));
  if (!model) return Response.json({ error: "no active model version" }, { status: 503 });
  // The same label order and head the production path builds (functions/model/adaptation.ts).
  const { labels, ways } = waysOf({ labels: body.support.map((s) => s.label) } as Parameters<typeof waysOf>[0]);
  const index = new Map(labels.map((l, i) => [l, i]));
  const supportEmb = await embeddings(model, body.support.map((s) => s.text));
  const supportFeatures = await model.adapterFeatures(supportEmb, body.support.length);
  const started = Date.now();
  const adapted = await model.adapt(supportFeatures, ways, labels.length);
  const adaptMs = Date.now() - started;
  const n = body.query.length;
  const queryRows = body.query.map((q) => model.encoder.keptRows(q.text));
  const queryEmb = await embeddings(model, body.query.map((q) => q.text));
  const queryFeatures = await model.adapterFeatures(queryEmb, n);
  // As scoreInput ranks labels: the head's logits plus the version's lexical evidence (none: unchanged).
  const lexicon = model.lexicon(body.support.map((s) => s.text), ways, labels.length);
  const plainLogits = await model.logits(queryFeatures, n, adapted.head);
  const logits = model.withLexical(Float32Array.from(plainLogits), queryRows, lexicon);
  const truth = body.query.map((q) => index.get(q.label) ?? -1);
  const correctOf = (rows: Float32Array) => {
    let correct = 0;
    for (let i = 0; i < n; i++) {
      let best = 0;
      for (let k = 1; k < labels.length; k++) if (rows[i * labels.length + k]! > rows[i * labels.length + best]!) best = k;
      if (best === truth[i]) correct += 1;
    }
    return correct;
  };
  const adaptedCorrect = correctOf(logits);
  const support = { ids: body.support.map((_, i) => String(i)), features: supportFeatures } as Support;
  const score = async (features: Float32Array, count: number, logitsOf: Float32Array): Promise<Scored> => {
    const out: Scored = { p: [], sim: [], confidence: [], best: [] };
    for (let i = 0; i < count; i++) {
      const probabilities = softmax(logitsOf, i * labels.length, labels.length);
      let best = 0;
      for (let k = 1; k < labels.length; k++) if (probabilities[k]! > probabilities[best]!) best = k;
      const sim = nearest(support, model.features, features.subarray(i * model.features, (i + 1) * model.features), 1)[0]?.similarity;
      out.p.push(probabilities[best]!);
      out.sim.push(sim ?? Number.NaN);
      out.confidence.push(calibratedConfidence(probabilities[best]!, sim, model.manifest.calibration));
      out.best.push(best);
    }
    return out;
  };
  const scored = await score(queryFeatures, n, logits);
  let oos: Scored | undefined;
  if (body.oos?.length) {
    const oosRows = body.oos.map((q) => model.encoder.keptRows(q.text));
    const oosFeatures = await model.adapterFeatures(await embeddings(model, body.oos.map((q) => q.text)), body.oos.length);
    oos = await score(oosFeatures, body.oos.length, model.withLexical(await model.logits(oosFeatures, body.oos.length, adapted.head), oosRows, lexicon));
  }
  const dim = model.encoder.dim;
  const count = (pred: Int32Array) => pred.reduce((c, p, i) => c + (p === truth[i] ? 1 : 0), 0);
  return Response.json({
    n,
    ways: labels.length,
    adapted: adaptedCorrect,
    adaptedWithoutLexical: correctOf(plainLogits), // the head alone (equal to adapted when the weight is 0)
    prototypes: count(prototypes(supportEmb, ways, labels.length, queryEmb, n, dim)),
    logreg: count(logisticRegression(supportEmb, ways, labels.length, queryEmb, n, dim)),
    supportAccAfter: adapted.accAfter,
    // For the cascade's figures (scripts/eval.mjs, scripts/calibrate.mjs): in-scope queries and out-of-scope inputs.
    scored: { ...scored, correct: scored.best.map((b, i) => b === truth[i]) },
    oos,
    adaptMs,
    model: { version: model.version, algorithm: model.algorithm, encoder: model.manifest.encoder.tag, steps: model.steps, calibration: model.manifest.calibration ?? null, lexical: model.manifest.lexical ?? null },
  });
}

export default {
  async fetch(request: Request, env: Env): Promise<Response> {
    const url = new URL(request.url);
    if (request.method === "PUT" && url.pathname.startsWith("/r2/")) {
      await env.MODELS.put(decodeURIComponent(url.pathname.slice(4)), await request.arrayBuffer());
      return new Response("ok");
    }
    if (request.method === "POST" && url.pathname === "/sql") {
      const { statements } = (await request.json()) as { statements: { sql: string; params?: unknown[] }[] };
      for (const s of statements) await env.DB.prepare(s.sql).bind(...(s.params ?? [])).run();
      return new Response("ok");
    }
    if (request.method === "POST" && url.pathname === "/episode") return episode(env, await request.json());
    return new Response("not found", { status: 404 });
  },
} satisfies ExportedHandler<Env>;
