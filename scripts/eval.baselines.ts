// LLM-free baselines on the frozen edge encoder's sentence embeddings (no adapter, no adaptation), for
// `npm run eval`: nearest class prototype by cosine, and multinomial logistic regression.

function normalise(x: Float32Array, n: number, dim: number): Float32Array {
  const out = new Float32Array(x.length);
  for (let i = 0; i < n; i++) {
    let s = 0;
    for (let d = 0; d < dim; d++) s += x[i * dim + d]! ** 2;
    const inv = 1 / (Math.sqrt(s) || 1);
    for (let d = 0; d < dim; d++) out[i * dim + d] = x[i * dim + d]! * inv;
  }
  return out;
}

function argmaxRows(scores: Float64Array, n: number, ways: number): Int32Array {
  const out = new Int32Array(n);
  for (let i = 0; i < n; i++) {
    let best = 0;
    for (let w = 1; w < ways; w++) if (scores[i * ways + w]! > scores[i * ways + best]!) best = w;
    out[i] = best;
  }
  return out;
}

function scoresOf(x: Float32Array, n: number, dim: number, w: Float64Array, b: Float64Array, ways: number): Float64Array {
  const s = new Float64Array(n * ways);
  for (let i = 0; i < n; i++) {
    for (let k = 0; k < ways; k++) {
      let dot = b[k]!;
      for (let d = 0; d < dim; d++) dot += x[i * dim + d]! * w[k * dim + d]!;
      s[i * ways + k] = dot;
    }
  }
  return s;
}

/** Cosine to the mean of each way's (unit-normalised) support embeddings. */
export function prototypes(support: Float32Array, ways: Int32Array, wayCount: number, query: Float32Array, nQuery: number, dim: number): Int32Array {
  const s = normalise(support, ways.length, dim);
  const protos = new Float64Array(wayCount * dim);
  ways.forEach((k, i) => {
    for (let d = 0; d < dim; d++) protos[k * dim + d]! += s[i * dim + d]!;
  });
  for (let k = 0; k < wayCount; k++) {
    let n = 0;
    for (let d = 0; d < dim; d++) n += protos[k * dim + d]! ** 2;
    const inv = 1 / (Math.sqrt(n) || 1);
    for (let d = 0; d < dim; d++) protos[k * dim + d]! *= inv;
  }
  return argmaxRows(scoresOf(normalise(query, nQuery, dim), nQuery, dim, protos, new Float64Array(wayCount), wayCount), nQuery, wayCount);
}

/**
 * Softmax regression on unit-normalised embeddings: full-batch gradient descent with L2 (the usual
 * "linear probe" few-shot baseline; C≈1 as scikit-learn's default, scale 10 for unit-norm inputs).
 */
export function logisticRegression(
  support: Float32Array, ways: Int32Array, wayCount: number, query: Float32Array, nQuery: number, dim: number,
  { iterations = 300, lr = 0.5, l2 = 1e-3, scale = 10 } = {},
): Int32Array {
  const n = ways.length;
  const x = normalise(support, n, dim).map((v) => v * scale);
  const w = new Float64Array(wayCount * dim);
  const b = new Float64Array(wayCount);
  const gw = new Float64Array(wayCount * dim);
  const gb = new Float64Array(wayCount);
  for (let it = 0; it < iterations; it++) {
    const s = scoresOf(x, n, dim, w, b, wayCount);
    gw.fill(0);
    gb.fill(0);
    for (let i = 0; i < n; i++) {
      let max = -Infinity;
      for (let k = 0; k < wayCount; k++) max = Math.max(max, s[i * wayCount + k]!);
      let sum = 0;
      for (let k = 0; k < wayCount; k++) sum += s[i * wayCount + k] = Math.exp(s[i * wayCount + k]! - max);
      for (let k = 0; k < wayCount; k++) {
        const g = (s[i * wayCount + k]! / sum - (ways[i] === k ? 1 : 0)) / n;
        gb[k]! += g;
        for (let d = 0; d < dim; d++) gw[k * dim + d]! += g * x[i * dim + d]!;
      }
    }
    for (let j = 0; j < w.length; j++) w[j]! -= lr * (gw[j]! + l2 * w[j]!);
    for (let k = 0; k < wayCount; k++) b[k]! -= lr * gb[k]!;
  }
  const q = normalise(query, nQuery, dim).map((v) => v * scale);
  return argmaxRows(scoresOf(q, nQuery, dim, w, b, wayCount), nQuery, wayCount);
}
