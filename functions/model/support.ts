// A task's support set as the model sees it: adapter features of every Example, computed when the
// Example is added (embedNewExamples) and stored in D1 (examples.embedding, float32 LE, with
// embedding_model_version). Rows embedded by another version are re-embedded lazily, on first use.
// Executions read stored features: the support set is never re-encoded per request. An isolate-level
// cache keyed by the task's examples_version (bumped by every insert or delete of its examples) skips
// even the D1 read of the rows.
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
  norms?: Float32Array; // L2 norm of each row, computed on first retrieval
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

export interface SignatureRow {
  v: number; // tasks.examples_version
}

/** The support set's version: bumped by every insert or delete of the task's examples (functions/examples.ts). */
export const signatureStatement = (deps: Deps, taskId: string) =>
  deps.db.prepare("SELECT examples_version AS v FROM tasks WHERE id = ? AND account_id = ?").bind(taskId, deps.accountId);

/** The task's support set with features from `model`, embedding any Example that lacks them. */
export async function loadSupport(deps: Deps, model: LoadedModel, taskId: string, prefetched?: SignatureRow | null): Promise<Support> {
  const key = `${deps.accountId}/${taskId}`;
  const row = prefetched ?? (await signatureStatement(deps, taskId).first<SignatureRow>());
  const signature = `${model.version}|${row?.v ?? "none"}`;
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

function rowNorms(features: Float32Array, count: number, dim: number): Float32Array {
  const norms = new Float32Array(count);
  for (let i = 0; i < count; i++) {
    let n = 0;
    for (let d = i * dim, end = d + dim; d < end; d++) n += features[d]! * features[d]!;
    norms[i] = Math.sqrt(n) || 1;
  }
  return norms;
}

/** The k support examples most cosine-similar to `query` (one row of features), best first. */
export function nearest(support: Support, dim: number, query: Float32Array, k: number): { index: number; similarity: number }[] {
  const { features } = support;
  const count = support.ids.length;
  support.norms ??= rowNorms(features, count, dim);
  let qn = 0;
  for (let d = 0; d < dim; d++) qn += query[d]! * query[d]!;
  qn = Math.sqrt(qn) || 1;
  // A running top-k (k is small): no per-row allocation, no full sort.
  const top: { index: number; similarity: number }[] = [];
  for (let i = 0; i < count; i++) {
    let dot = 0;
    for (let d = 0, base = i * dim; d < dim; d++) dot += features[base + d]! * query[d]!;
    const similarity = dot / (qn * support.norms[i]!);
    if (top.length < k || similarity > top[top.length - 1]!.similarity) {
      let at = top.length;
      while (at > 0 && top[at - 1]!.similarity < similarity) at--;
      top.splice(at, 0, { index: i, similarity });
      if (top.length > k) top.pop();
    }
  }
  return top;
}
