// Adapting the loaded model's head to a task's support set: adapt.onnx (the exported inner loop) over the
// labelled rows of the support features. Pure computation: storing the result as an Adaptation row is
// functions/adaptations.ts, reusing it per task is functions/predictions.ts.
import { type AdaptResult, type Head, type LoadedModel } from "./runtime";
import type { Support } from "./support";

/** Clocks stand still inside a Worker until I/O happens; a zero timer lets them move (recipes.md). */
const tick = () => new Promise<void>((resolve) => setTimeout(resolve, 0));

/** The way each support example belongs to (-1: no label), and the label order of the head's rows. */
export function waysOf(support: Pick<Support, "labels">): { labels: string[]; ways: Int32Array; rows: number[] } {
  const labels = [...new Set(support.labels.filter((l): l is string => l !== null && l !== ""))].sort();
  const index = new Map(labels.map((l, i) => [l, i]));
  const rows: number[] = [];
  const ways = new Int32Array(support.labels.length).fill(-1);
  support.labels.forEach((l, i) => {
    const w = l ? index.get(l) : undefined;
    if (w !== undefined) {
      ways[i] = w;
      rows.push(i);
    }
  });
  return { labels, ways, rows };
}

export interface HeadFit {
  head: Head;
  labels: string[]; // the head's rows, in order
  supportSize: number; // labelled examples it was fitted on
  result: AdaptResult;
  durationMs: number;
}

/** Fits the head to the support's labelled examples; null when they carry fewer than 2 labels. */
export async function fitHead(model: LoadedModel, support: Support): Promise<HeadFit | null> {
  const { labels, ways, rows } = waysOf(support);
  if (labels.length < 2) return null;
  const f = model.features;
  const features = new Float32Array(rows.length * f);
  const wayOfRow = new Int32Array(rows.length);
  rows.forEach((r, i) => {
    features.set(support.features.subarray(r * f, (r + 1) * f), i * f);
    wayOfRow[i] = ways[r]!;
  });
  await tick();
  const started = performance.now();
  const result = await model.adapt(features, wayOfRow, labels.length);
  await tick();
  return { head: result.head, labels, supportSize: rows.length, result, durationMs: performance.now() - started };
}
