// Edge model runtime: the seam between the domain functions and the meta-learned model.
// !!! STUB (issue 4): no model is loaded yet. Every call reports "no model", so executions take the
// in-context LLM baseline and adaptTask answers MODEL_UNAVAILABLE. Issue 4 replaces this module.
import type { Deps } from "../deps";

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
  adaptationId: string;
  label: string;
  confidence: number;
  scores: LabelScore[]; // top-k, best first
  demonstrations: Demonstration[]; // nearest support examples, best first
}

/** Returns null when no model version is active (callers fall back to the LLM baseline). */
export async function predictForTask(_deps: Deps, _taskId: string, _input: string): Promise<Prediction | null> {
  return null;
}

/** Called after examples are stored, so embeddings are computed once, not per execution. */
export async function embedNewExamples(_deps: Deps, _exampleIds: string[]): Promise<void> {}
