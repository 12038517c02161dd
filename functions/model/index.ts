// Edge model runtime: the seam between the domain functions and the meta-learned model.
// The active ModelVersion is loaded from R2 into this isolate (loader.ts), examples are featurised when
// added (support.ts), the head is adapted per task by the exported inner loop (adaptation.ts), and an
// execution encodes only its input: label, confidence, top-k scores, nearest examples as demonstrations.
import type { Deps } from "../deps";
import { adaptedTask } from "./adaptation";
import { calibratedConfidence } from "./confidence";
import { activeVersionStatement, useActiveModel, type ActiveRow } from "./loader";
import { softmax, type LoadedModel } from "./runtime";
import { embedExamples, loadSupport, nearest, signatureStatement, type SignatureRow } from "./support";

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
}

export const TOP_K = 5;
export const DEMONSTRATIONS = 5;

/** Why there is no prediction: no model version is active, or the task has no labelled example yet. */
export interface NoPrediction {
  none: "no_active_model" | "no_examples";
}

export const isPrediction = (p: Prediction | NoPrediction): p is Prediction => !("none" in p);

/**
 * The adapted model's prediction, or why there is none (callers fall back to the in-context LLM
 * baseline). Throws MODEL_UNAVAILABLE when the active version cannot be loaded and this isolate has no
 * earlier version to keep serving.
 */
export async function predictForTask(deps: Deps, taskId: string, input: string): Promise<Prediction | NoPrediction> {
  // One D1 round trip for the two per-request checks: the active version and the support signature.
  const [active, signature] = await deps.db.batch([activeVersionStatement(deps.db), signatureStatement(deps, taskId)]);
  return useActiveModel(deps, (active?.results[0] as ActiveRow | undefined) ?? null, (model) =>
    model ? predictWith(deps, model, taskId, input, signature?.results[0] as SignatureRow | undefined) : Promise.resolve({ none: "no_active_model" } as const),
  );
}

async function predictWith(deps: Deps, model: LoadedModel, taskId: string, input: string, signature: SignatureRow | undefined): Promise<Prediction | NoPrediction> {
  const support = await loadSupport(deps, model, taskId, signature);
  const adapted = await adaptedTask(deps, model, taskId, support);
  const query = await model.featurise([input]);
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
    return { modelVersion: model.version, adaptationId: null, label: only, confidence, scores: [{ label: only, score: 1 }], demonstrations };
  }
  const probabilities = softmax(await model.logits(query, 1, adapted.head));
  const scores = adapted.labels
    .map((label, i) => ({ label, score: probabilities[i]! }))
    .sort((a, b) => b.score - a.score)
    .slice(0, TOP_K);
  return {
    modelVersion: model.version,
    adaptationId: adapted.adaptation.id,
    label: scores[0]!.label,
    // Not the softmax alone: an input unlike every example is not confidently any label (confidence.ts).
    confidence: calibratedConfidence(scores[0]!.score, demonstrations[0]?.similarity, model.manifest.calibration),
    scores,
    demonstrations,
  };
}

/** Called after examples are stored, so features are computed once, not per execution. */
export async function embedNewExamples(deps: Deps, exampleIds: string[]): Promise<void> {
  try {
    await useActiveModel(deps, undefined, async (model) => {
      if (model) await embedExamples(deps, model, exampleIds);
    });
  } catch (error) {
    // Adding examples must not fail because the model is down: they are embedded lazily on first use.
    console.warn(JSON.stringify({ event: "embed_failed", count: exampleIds.length, error: error instanceof Error ? error.message : String(error) }));
  }
}
