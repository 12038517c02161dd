// A task's support set as the model sees it: adapter features of every Example, one row each, in the
// order of the example ids. Features are computed when an Example is added and stored with it
// (examples.embedding, float32 LE, tagged with embedding_model_version); rows embedded by another
// version are re-embedded. This module only assembles and searches the set: reading and writing the
// rows is functions/examples.ts, and caching the set per task is functions/predictions.ts.
import { sha256Hex } from "./artifact";
import type { LoadedModel } from "./runtime";

/** An example as the support set needs it (what functions/examples.ts reads for it). */
export interface SupportExample {
  id: string;
  input: string;
  label: string | null;
  output: string | null;
  embedding: ArrayBuffer | number[] | Uint8Array | null;
  embedding_model_version: string | null;
}

export interface Support {
  modelVersion: string;
  ids: string[];
  labels: (string | null)[];
  inputs: string[]; // kept so demonstrations need no read of their own
  outputs: (string | null)[];
  features: Float32Array; // [ids.length × features]
  fingerprint: string; // hashes the examples (id, label) and the model version
  norms?: Float32Array; // L2 norm of each row, computed on first retrieval
  pending: number; // examples of the task left out: not featurised yet (over one request's encoding budget)
}

function toBuffer(value: SupportExample["embedding"]): ArrayBuffer | null {
  if (value == null) return null;
  if (value instanceof ArrayBuffer) return value;
  if (value instanceof Uint8Array) return value.slice().buffer;
  return Uint8Array.from(value).buffer;
}

/**
 * The support set of `rows` with features from `model`; the rows whose stored features are missing or
 * from another version are featurised now and returned as `fresh` (the caller stores them). Rows that
 * `previous` (an earlier support set of the same task) holds with this model version's features take
 * them from it, whatever the row carries.
 */
export async function assembleSupport(
  model: LoadedModel,
  allRows: SupportExample[],
  previous?: Support,
): Promise<{ support: Support; fresh: { ids: string[]; features: Float32Array } }> {
  const f = model.features;
  const reusable = previous?.modelVersion === model.version ? new Map(previous.ids.map((id, i) => [id, i])) : undefined;
  // The features each row already has (from `previous`, or stored for this version), else null.
  const known = (r: SupportExample): Float32Array | null => {
    const before = reusable?.get(r.id);
    if (before !== undefined) return previous!.features.subarray(before * f, (before + 1) * f);
    const buffer = r.embedding_model_version === model.version ? toBuffer(r.embedding) : null;
    return buffer && buffer.byteLength === f * 4 ? new Float32Array(buffer) : null;
  };
  // At most encodeBudget rows are featurised by one request; the others wait for the next one and are
  // left out of this set (the execution says how many), so a 500-example write never costs one request
  // seconds of CPU. Rows keep their order either way.
  let budget = model.encodeBudget;
  const rows: SupportExample[] = [];
  const have: (Float32Array | null)[] = [];
  for (const r of allRows) {
    const features = known(r);
    if (features || budget-- > 0) rows.push(r), have.push(features);
  }
  const features = new Float32Array(rows.length * f);
  const stale: number[] = [];
  have.forEach((row, i) => (row ? features.set(row, i * f) : stale.push(i)));
  const computed = stale.length > 0 ? await model.featurise(stale.map((i) => rows[i]!.input)) : new Float32Array(0);
  stale.forEach((row, j) => features.set(computed.subarray(j * f, (j + 1) * f), row * f));
  const fingerprint = await sha256Hex(
    new TextEncoder().encode(`${model.version}\n${rows.map((r) => `${r.id}\t${r.label ?? ""}`).join("\n")}`),
  );
  return {
    support: {
      modelVersion: model.version,
      ids: rows.map((r) => r.id),
      labels: rows.map((r) => r.label),
      inputs: rows.map((r) => r.input),
      outputs: rows.map((r) => r.output),
      features,
      fingerprint,
      pending: allRows.length - rows.length,
    },
    fresh: { ids: stale.map((i) => rows[i]!.id), features: computed },
  };
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
