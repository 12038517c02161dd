// One loaded ModelVersion: its encoder (the static table, + its context.onnx; or the int8 transformer) plus the adapter, adaptation step and head
// (ORT sessions). Pure computation on typed arrays; loading and caching live in loader.ts.
import { modelUnavailable } from "../errors";
import type { Manifest } from "./artifact";
import { fuseLexical, lexicalIndex, type LexicalIndex } from "./lexical";
import { releasedCount, Tensor, type Session } from "./ort";
import type { EdgeTokenizer } from "./tokens";

export interface Head {
  ways: number;
  features: number;
  weight: Float32Array; // [ways, features] row-major
  bias: Float32Array; // [ways]
}

export interface AdaptResult {
  head: Head;
  lossBefore: number;
  lossAfter: number;
  accBefore: number;
  accAfter: number;
}

export const ENCODE_BUDGET = 48;

const scalar = (t: Tensor | undefined): number => Number((t?.data as Float32Array | undefined)?.[0] ?? Number.NaN);

export class LoadedModel {
  readonly version: string;
  readonly algorithm: string;
  readonly steps: number;
  readonly features: number;
  /** Texts one request featurises at most (support.ts): the transformer costs ~10–50 ms a text, the
   *  static table microseconds. 48 texts of 64 tokens stay near 2 s of CPU. */
  readonly encodeBudget: number;

  constructor(
    readonly manifest: Manifest,
    readonly encoder: EdgeTokenizer,
    private readonly adapter: Session,
    private readonly adaptStep: Session,
    private readonly headSession: Session,
    private readonly refineSession: Session | null = null,
  ) {
    this.version = manifest.version;
    this.algorithm = manifest.algorithm;
    this.steps = manifest.adaptation.steps;
    this.features = manifest.features;
    this.encodeBudget = manifest.encoder.kind === "transformer" ? ENCODE_BUDGET : Number.POSITIVE_INFINITY;
  }

  /** Frees this version's ORT sessions (wasm memory); the count released. Only once nothing uses it. */
  async release(): Promise<number> {
    const sessions = [this.adapter, this.adaptStep, this.headSession, ...(this.refineSession ? [this.refineSession] : [])];
    const freed = await Promise.all(sessions.map(async (s) => releasedCount(await s.release())));
    return freed.reduce((a, b) => a + b, 0) + (await this.encoder.release());
  }

  /** Sentence embeddings through the adapter: float32 [texts.length × features]. */
  async featurise(texts: string[]): Promise<Float32Array> {
    if (texts.length === 0) return new Float32Array(0);
    return this.adapterFeatures(await this.encoder.encode(texts), texts.length);
  }

  /** The same from each text's kept rows (`encoder.keptRows`), when the caller also needs the rows. */
  async featuriseRows(rowsPerText: number[][]): Promise<Float32Array> {
    if (rowsPerText.length === 0) return new Float32Array(0);
    return this.adapterFeatures(await this.encoder.encodeRows(rowsPerText), rowsPerText.length);
  }

  /** The lexical index of a support set (`ways[i]`: example i's way, -1 unlabelled), or null when this
   *  version adds no lexical evidence (manifest `lexical` absent or weight 0): nothing is tokenised then. */
  lexicon(texts: string[], ways: ArrayLike<number>, wayCount: number): LexicalIndex | null {
    if (!(this.manifest.lexical?.weight ?? 0)) return null;
    return lexicalIndex(texts.map((text) => this.encoder.keptRows(text)), ways, wayCount);
  }

  /** The logits a task ranks its labels by: `logits` of the head plus, with a lexicon, the lexical evidence
   *  of each text's kept rows (in place; lexical.ts). Every caller that ranks labels goes through here. */
  withLexical(logits: Float32Array, rowsPerText: number[][], lexicon: LexicalIndex | null): Float32Array {
    return lexicon ? fuseLexical(logits, rowsPerText, lexicon, this.manifest.lexical!.weight) : logits;
  }

  async adapterFeatures(embeddings: Float32Array, n: number): Promise<Float32Array> {
    const out = await this.adapter.run({ embedding: new Tensor("float32", embeddings, [n, this.encoder.dim]) });
    const features = out.features;
    if (!features || features.dims[1] !== this.features) {
      throw modelUnavailable(`adapter.onnx of ${this.version} did not return features [${n}, ${this.features}].`);
    }
    return features.data as Float32Array;
  }

  /** Runs adapt.onnx, the inner loop over the support set (`labels[i]` indexes a way), then refine.onnx
   *  as many rounds as `refineRounds` gives this task's size. */
  async adapt(supportFeatures: Float32Array, labels: Int32Array, ways: number): Promise<AdaptResult> {
    const support = labels.length;
    const onehot = new Float32Array(support * ways);
    labels.forEach((way, i) => (onehot[i * ways + way] = 1));
    const features = new Tensor("float32", supportFeatures, [support, this.features]);
    const supportLabels = new Tensor("float32", onehot, [support, ways]);
    const out = await this.adaptStep.run({ support_features: features, support_labels: supportLabels });
    let head = this.headOf(out, ways, "adapt.onnx");
    let last = out;
    const rounds = this.refineSession ? refineRounds(this.manifest.adaptation.refine, support, ways) : 0;
    for (let r = 0; r < rounds; r++) {
      last = await this.refineSession!.run({
        support_features: features,
        support_labels: supportLabels,
        start_weight: new Tensor("float32", head.weight, [ways, this.features]),
        start_bias: new Tensor("float32", head.bias, [ways]),
      });
      head = this.headOf(last, ways, "refine.onnx");
    }
    return {
      head,
      lossBefore: scalar(out.loss_before),
      lossAfter: scalar(last.loss_after),
      accBefore: scalar(out.acc_before),
      accAfter: scalar(last.acc_after),
    };
  }

  private headOf(out: Awaited<ReturnType<Session["run"]>>, ways: number, graph: string): Head {
    const weight = out.weight?.data as Float32Array | undefined;
    const bias = out.bias?.data as Float32Array | undefined;
    if (!weight || !bias || weight.length !== ways * this.features || bias.length !== ways) {
      throw modelUnavailable(`${graph} of ${this.version} did not return a head [${ways}, ${this.features}].`);
    }
    return { ways, features: this.features, weight: Float32Array.from(weight), bias: Float32Array.from(bias) };
  }

  /** Logits [n × ways] of features under an adapted head (head.onnx: the temperature is inside). */
  async logits(features: Float32Array, n: number, head: Head): Promise<Float32Array> {
    const out = await this.headSession.run({
      features: new Tensor("float32", features, [n, this.features]),
      weight: new Tensor("float32", head.weight, [head.ways, this.features]),
      bias: new Tensor("float32", head.bias, [head.ways]),
    });
    return out.logits!.data as Float32Array;
  }
}

/** Refinement rounds for a task of `support` examples over `ways` labels (manifest adaptation.refine):
 *  each round costs steps × support × ways × features multiply-adds twice, and all of them together stay
 *  within `budget` (in support × ways × step units), so the largest tasks get none. The training side's
 *  algorithms.refine_rounds computes the same integer. */
export function refineRounds(
  refine: { steps: number; max_rounds: number; budget: number } | undefined,
  support: number,
  ways: number,
): number {
  if (!refine) return 0;
  return Math.min(refine.max_rounds, Math.floor(refine.budget / (refine.steps * Math.max(support * ways, 1))));
}

/** Softmax of one row of logits (numerically stable). */
export function softmax(logits: Float32Array, offset = 0, ways = logits.length): Float64Array {
  let max = -Infinity;
  for (let i = 0; i < ways; i++) max = Math.max(max, logits[offset + i]!);
  const p = new Float64Array(ways);
  let sum = 0;
  for (let i = 0; i < ways; i++) sum += p[i] = Math.exp(logits[offset + i]! - max);
  for (let i = 0; i < ways; i++) p[i]! /= sum;
  return p;
}

/** Head rows and bias packed as the adaptations.head BLOB: float32 weight [ways, features] then bias. */
export function packHead(head: Head): ArrayBuffer {
  const out = new Float32Array(head.weight.length + head.bias.length);
  out.set(head.weight, 0);
  out.set(head.bias, head.weight.length);
  return out.buffer;
}

export function unpackHead(blob: ArrayBuffer, ways: number, features: number): Head | null {
  if (blob.byteLength !== (ways * features + ways) * 4) return null;
  const all = new Float32Array(blob.slice(0));
  return { ways, features, weight: all.subarray(0, ways * features), bias: all.subarray(ways * features) };
}
