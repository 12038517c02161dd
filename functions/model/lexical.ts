// Lexical evidence from a task's own examples, added to the adapted head's logits before the softmax:
//   logits'[k] = logits[k] + weight · cos(tfidf(input), tfidf(label k's examples)).
// Why: the edge encoder is a distilled static table, and on a domain its tuning corpus never covered it
// falls well behind its teacher; a task's examples name that domain's words themselves. The artifact's
// manifest carries the weight (`lexical`); an artifact without it scores as before.
//
// The definitions are training/lexical.py's (the reference; docs/model-artifact.md, "Lexical evidence"):
// tokens = the encoder's kept rows of a text, as a set; n = labelled examples; idf(t) = ln((1+n)/(1+df(t)))+1
// (df 0 for a token no example holds: it still weighs in an input's norm); an example's vector is the idf
// of its tokens, L2-normalised; a label's is the sum of its examples', L2-normalised; an input's is the idf
// of its tokens, L2-normalised; the score is the dot product.
import { z } from "zod";

export const lexicalSchema = z.object({
  kind: z.literal("support-tfidf"),
  weight: z.number().nonnegative(),
}).passthrough();

export interface LexicalIndex {
  ways: number;
  idf: Map<number, number>;
  unseenIdf: number; // idf of a token no example holds
  labels: Map<number, number>[]; // per way: token -> weight of the label's unit vector
}

function unit(vector: Map<number, number>): Map<number, number> {
  let sum = 0;
  for (const v of vector.values()) sum += v * v;
  const norm = Math.sqrt(sum);
  if (norm > 0) for (const [t, v] of vector) vector.set(t, v / norm);
  return vector;
}

/** The index of a support set: `tokens[i]` are example i's kept rows, `ways[i]` its way (-1: unlabelled,
 *  left out). */
export function lexicalIndex(tokens: number[][], ways: ArrayLike<number>, wayCount: number): LexicalIndex {
  const sets: Set<number>[] = [];
  const wayOf: number[] = [];
  tokens.forEach((t, i) => {
    const way = ways[i]!;
    if (way < 0) return;
    sets.push(new Set(t));
    wayOf.push(way);
  });
  const n = sets.length;
  const df = new Map<number, number>();
  for (const s of sets) for (const t of s) df.set(t, (df.get(t) ?? 0) + 1);
  const idf = new Map<number, number>();
  for (const [t, d] of df) idf.set(t, Math.log((1 + n) / (1 + d)) + 1);
  const labels = Array.from({ length: wayCount }, () => new Map<number, number>());
  sets.forEach((s, i) => {
    const example = unit(new Map([...s].map((t) => [t, idf.get(t)!] as [number, number])));
    const label = labels[wayOf[i]!]!;
    for (const [t, v] of example) label.set(t, (label.get(t) ?? 0) + v);
  });
  labels.forEach(unit);
  return { ways: wayCount, idf, unseenIdf: Math.log(1 + n) + 1, labels };
}

/** The input's score against each way, in [0, 1]. */
export function lexicalScores(index: LexicalIndex, tokens: number[]): Float64Array {
  const query = unit(new Map([...new Set(tokens)].map((t) => [t, index.idf.get(t) ?? index.unseenIdf] as [number, number])));
  const out = new Float64Array(index.ways);
  index.labels.forEach((label, k) => {
    let dot = 0;
    for (const [t, v] of query) dot += v * (label.get(t) ?? 0);
    out[k] = dot;
  });
  return out;
}

/** Adds `weight` × each text's scores to its row of `logits` ([texts × index.ways], in place), with
 *  `tokens[i]` the kept rows of text i. */
export function fuseLexical(logits: Float32Array, tokens: number[][], index: LexicalIndex, weight: number): Float32Array {
  tokens.forEach((t, i) => {
    const scores = lexicalScores(index, t);
    for (let k = 0; k < index.ways; k++) logits[i * index.ways + k] = logits[i * index.ways + k]! + weight * scores[k]!;
  });
  return logits;
}
