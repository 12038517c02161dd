// How sure the model is that an input is one of the task's labels at all, not only which label wins.
//
// A softmax over a task's labels always sums to 1: an input unrelated to every label still gets a winner,
// often with a high probability (a 2-label task answers "it stopped working after a day" with 0.91), and
// the cascade never asks the LLM. So the confidence an execution reports is the winning probability
// times an in-scope factor: a logistic function of the input's cosine similarity to its nearest support
// example (the first demonstration), sim → 1 / (1 + exp(-scale · (sim − center))). Inputs like the task's
// examples keep their probability; inputs far from all of them fall under the task's threshold and go to
// the LLM. `center` and `scale` belong to the encoder's feature space, so they travel in the artifact's
// manifest (`calibration`), fitted on source tasks with held-out intents (scripts/calibrate.mjs), never on
// an evaluation set. An artifact without them reports the plain probability.
import { z } from "zod";

export const calibrationSchema = z.object({
  kind: z.literal("nearest-similarity"),
  center: z.number(),
  scale: z.number().positive(),
}).passthrough();

export type Calibration = z.infer<typeof calibrationSchema>;

/** The in-scope factor in (0, 1); 1 when the artifact has no calibration or there is no neighbour. */
export function inScope(nearestSimilarity: number | undefined, calibration: Calibration | undefined): number {
  if (!calibration || nearestSimilarity === undefined || !Number.isFinite(nearestSimilarity)) return 1;
  return 1 / (1 + Math.exp(-calibration.scale * (nearestSimilarity - calibration.center)));
}

/** The confidence an execution reports and routes on: P(winning label) × the in-scope factor. */
export function calibratedConfidence(probability: number, nearestSimilarity: number | undefined, calibration: Calibration | undefined): number {
  return probability * inScope(nearestSimilarity, calibration);
}
