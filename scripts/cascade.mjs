// The cascade's three figures, from per-input scores of the eval Worker (scripts/eval.worker.ts): at a
// task's confidence threshold, the share of out-of-scope inputs sent to the LLM, the share of in-scope
// inputs the model answers alone, and the accuracy of those answers. Used by `npm run eval` (data with an
// oos split) and scripts/calibrate.mjs; the confidence is functions/model/confidence.ts's.
export const DEFAULT_THRESHOLD = 0.7; // a task's default confidenceThreshold (functions/validation.ts)

const share = (k, n) => (n ? Number((k / n).toFixed(4)) : null);

/** inScope: { confidence[], correct[] } pooled over episodes; oos: { confidence[] }. */
export function cascade(inScope, oos, threshold = DEFAULT_THRESHOLD) {
  let answered = 0;
  let right = 0;
  inScope.confidence.forEach((c, i) => {
    if (c >= threshold) {
      answered += 1;
      if (inScope.correct[i]) right += 1;
    }
  });
  const routed = oos.confidence.filter((c) => c < threshold).length;
  return {
    threshold,
    oos_to_llm: share(routed, oos.confidence.length),
    in_scope_answered_by_model: share(answered, inScope.confidence.length),
    answered_accuracy: share(right, answered),
    in_scope: inScope.confidence.length,
    oos: oos.confidence.length,
  };
}

/** Concatenates the per-input arrays of several episodes' scores. */
export function pool(parts) {
  const out = {};
  for (const part of parts) for (const [k, v] of Object.entries(part)) out[k] = [...(out[k] ?? []), ...v];
  return out;
}

/** The confidence of functions/model/confidence.ts for given calibration parameters (JS twin, for fitting). */
export const confidenceWith = ({ center, scale }) => (p, sim) => p / (1 + Math.exp(-scale * (sim - center)));
