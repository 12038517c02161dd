// A task's support set as the model sees it: adapter features of every Example, computed when the
// Example is added (embedNewExamples) and stored in D1 (examples.embedding, float32 LE, with
// embedding_model_version). Rows embedded by another version are re-embedded lazily, on first use.
// Executions read stored features: the support set is never re-encoded per request. An isolate-level
// cache keyed by a cheap signature (count and rowids of the task's examples) skips even the D1 read.
import type { Deps } from "../deps";
import { sha256Hex } from "./artifact";
import type { LoadedModel } from "./runtime";

export interface Support {
  modelVersion: string;
  ids: string[];
  labels: (string | null)[];
  features: Float32Array; // [ids.length × features]
  fingerprint: string; // hashes the examples (id, label) and the model version
  signature: string;
}

interface ExampleEmbeddingRow {
  id: string;
  input: string;
  label: string | null;
  embedding: ArrayBuffer | number[] | Uint8Array | null;
  embedding_model_version: string | null;
}

const MAX_CACHED_TASKS = 256;
const cache = new Map<string, Support>(); // key: account/task, insertion order = LRU order

export function clearSupportCacheForTests(): void {
  cache.clear();
}

function toBuffer(value: ExampleEmbeddingRow["embedding"]): ArrayBuffer | null {
  if (value == null) return null;
  if (value instanceof ArrayBuffer) return value;
  if (value instanceof Uint8Array) return value.slice().buffer;
  return Uint8Array.from(value).buffer;
}

/** Computes and stores features for new Examples; without an active model it is a no-op. */
export async function embedExamples(deps: Deps, model: LoadedModel, ids: string[]): Promise<void> {
  if (ids.length === 0) return;
  const rows: { id: string; input: string }[] = [];
  // D1 caps bound parameters per statement: fetch in chunks.
  for (let i = 0; i < ids.length; i += 90) {
    const chunk = ids.slice(i, i + 90);
    const { results } = await deps.db
      .prepare(`SELECT id, input FROM examples WHERE account_id = ? AND id IN (${chunk.map(() => "?").join(",")})`)
      .bind(deps.accountId, ...chunk)
      .all<{ id: string; input: string }>();
    rows.push(...results);
  }
  await storeFeatures(deps, model, rows);
}

async function storeFeatures(deps: Deps, model: LoadedModel, rows: { id: string; input: string }[]): Promise<Float32Array> {
  const features = await model.featurise(rows.map((r) => r.input));
  const f = model.features;
  const update = deps.db.prepare("UPDATE examples SET embedding = ?, embedding_model_version = ? WHERE id = ? AND account_id = ?");
  const statements = rows.map((r, i) => update.bind(features.slice(i * f, (i + 1) * f).buffer, model.version, r.id, deps.accountId));
  for (let i = 0; i < statements.length; i += 500) await deps.db.batch(statements.slice(i, i + 500));
  return features;
}

async function signatureOf(deps: Deps, taskId: string, version: string): Promise<string> {
  // Examples are only inserted or deleted, never edited: count + max + sum of rowids changes with either.
  const row = await deps.db
    .prepare("SELECT COUNT(*) AS n, COALESCE(MAX(rowid), 0) AS hi, TOTAL(rowid) AS total FROM examples WHERE account_id = ? AND task_id = ?")
    .bind(deps.accountId, taskId)
    .first<{ n: number; hi: number; total: number }>();
  return `${version}|${row?.n ?? 0}|${row?.hi ?? 0}|${row?.total ?? 0}`;
}

/** The task's support set with features from `model`, embedding any Example that lacks them. */
export async function loadSupport(deps: Deps, model: LoadedModel, taskId: string): Promise<Support> {
  const key = `${deps.accountId}/${taskId}`;
  const signature = await signatureOf(deps, taskId, model.version);
  const hit = cache.get(key);
  if (hit && hit.signature === signature) {
    cache.delete(key);
    cache.set(key, hit);
    return hit;
  }
  const { results } = await deps.db
    .prepare(
      `SELECT id, input, label, embedding, embedding_model_version FROM examples
       WHERE account_id = ? AND task_id = ? ORDER BY id`,
    )
    .bind(deps.accountId, taskId)
    .all<ExampleEmbeddingRow>();
  const f = model.features;
  const features = new Float32Array(results.length * f);
  const stale: { id: string; input: string; index: number }[] = [];
  results.forEach((r, i) => {
    const buffer = r.embedding_model_version === model.version ? toBuffer(r.embedding) : null;
    if (buffer && buffer.byteLength === f * 4) features.set(new Float32Array(buffer), i * f);
    else stale.push({ id: r.id, input: r.input, index: i });
  });
  if (stale.length > 0) {
    const fresh = await storeFeatures(deps, model, stale);
    stale.forEach((s, j) => features.set(fresh.subarray(j * f, (j + 1) * f), s.index * f));
  }
  const fingerprint = await sha256Hex(
    new TextEncoder().encode(`${model.version}\n${results.map((r) => `${r.id}\t${r.label ?? ""}`).join("\n")}`),
  );
  const support: Support = {
    modelVersion: model.version,
    ids: results.map((r) => r.id),
    labels: results.map((r) => r.label),
    features,
    fingerprint,
    signature,
  };
  cache.set(key, support);
  if (cache.size > MAX_CACHED_TASKS) cache.delete(cache.keys().next().value!);
  return support;
}

/** Indices of the k rows of `features` most cosine-similar to `query`, best first. */
export function nearest(features: Float32Array, count: number, dim: number, query: Float32Array, k: number): { index: number; similarity: number }[] {
  let qn = 0;
  for (let d = 0; d < dim; d++) qn += query[d]! * query[d]!;
  qn = Math.sqrt(qn) || 1;
  const scored: { index: number; similarity: number }[] = [];
  for (let i = 0; i < count; i++) {
    let dot = 0;
    let n = 0;
    const base = i * dim;
    for (let d = 0; d < dim; d++) {
      const x = features[base + d]!;
      dot += x * query[d]!;
      n += x * x;
    }
    scored.push({ index: i, similarity: dot / (qn * (Math.sqrt(n) || 1)) });
  }
  return scored.sort((a, b) => b.similarity - a.similarity).slice(0, k);
}
