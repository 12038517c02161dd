// Edge model runtime: what the domain (functions/predictions.ts) asks of the meta-learned model, on
// typed arrays and strings, with no D1 in it. loader.ts loads a ModelVersion from R2 into this isolate,
// support.ts assembles and searches a task's support features, adaptation.ts fits the head (the
// exported inner loop), and `scoreInput` here encodes one input: label, confidence, top-k scores and the
// nearest examples as demonstrations.
import { calibratedConfidence } from "./confidence";
import { waysOf } from "./adaptation";
import type { LexicalIndex } from "./lexical";
import { softmax, type Head, type LoadedModel } from "./runtime";
import { nearest, type Support } from "./support";

export interface LabelScore {
  label: string;
  score: number;
}

export interface Demonstration {
  exampleId: string;
  similarity: number;
}

export interface Prediction {
  modelVersion: string;
  adaptationId: string | null; // null only when the task has a single label (nothing to adapt)
  label: string;
  confidence: number;
  scores: LabelScore[]; // top-k, best first
  demonstrations: Demonstration[]; // nearest support examples, best first
  truncated?: boolean; // the input had more tokens than the encoder reads (manifest max_tokens): its end was cut
  pendingExamples?: number; // the task's examples not featurised yet, left out of this prediction
}

export const TOP_K = 5;
export const DEMONSTRATIONS = 5;

/** Why there is no prediction: no model version is active, or the task has no labelled example yet. */
export interface NoPrediction {
  none: "no_active_model" | "no_examples";
}

export const isPrediction = (p: Prediction | NoPrediction): p is Prediction => !("none" in p);

/** The head fitted to the task (null: fewer than 2 labels), with the id of the Adaptation it is stored as. */
export interface AdaptedHead {
  adaptationId: string;
  head: Head;
  labels: string[];
}

/** The prediction for one input against a task's support set and its adapted head. */
export async function scoreInput(model: LoadedModel, support: Support, adapted: AdaptedHead | null, input: string): Promise<Prediction | NoPrediction> {
  const { ids, truncated } = model.encoder.tokenized(input); // tokenised once: features, lexical evidence, the cut
  const rows = [model.encoder.rowsOf(ids)];
  const notes = { truncated, pendingExamples: support.pending };
  const query = await model.featuriseRows(rows);
  const demonstrations = nearest(support, model.features, query, DEMONSTRATIONS).map((n) => ({
    exampleId: support.ids[n.index]!,
    similarity: n.similarity,
  }));
  if (!adapted) {
    const only = support.labels.find((l): l is string => !!l);
    if (!only) return { none: "no_examples" };
    // One label: it is the only possible answer, and there is no head to adapt; only whether the input
    // belongs to the task at all is in doubt.
    const confidence = calibratedConfidence(1, demonstrations[0]?.similarity, model.manifest.calibration);
    return { modelVersion: model.version, adaptationId: null, label: only, confidence, scores: [{ label: only, score: 1 }], demonstrations, ...notes };
  }
  const probabilities = softmax(model.withLexical(await model.logits(query, 1, adapted.head), rows, supportLexicon(model, support)));
  const scores = adapted.labels
    .map((label, i) => ({ label, score: probabilities[i]! }))
    .sort((a, b) => b.score - a.score)
    .slice(0, TOP_K);
  return {
    modelVersion: model.version,
    adaptationId: adapted.adaptationId,
    label: scores[0]!.label,
    // Not the softmax alone: an input unlike every example is not confidently any label (confidence.ts).
    confidence: calibratedConfidence(scores[0]!.score, demonstrations[0]?.similarity, model.manifest.calibration),
    scores,
    demonstrations,
    ...notes,
  };
}

// A support set's lexical index (null: the version adds none), built once per set object: the set is
// immutable and cached per task and model version by functions/predictions.ts, and its head's label order
// is waysOf's, as the adaptation's.
const lexicons = new WeakMap<Support, LexicalIndex | null>();

function supportLexicon(model: LoadedModel, support: Support): LexicalIndex | null {
  if (!lexicons.has(support)) {
    const { labels, ways } = waysOf(support);
    lexicons.set(support, model.lexicon(support.inputs, ways, labels.length));
  }
  return lexicons.get(support)!;
}
