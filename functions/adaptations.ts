// Adapting a task: fit the active model's head to the task's support set (the inner loop, at the edge).
// !!! STUB (written by H2 so the GraphQL adaptTask mutation has its seam; H5 / issue 4 replaces it) !!!
// No model runtime exists yet, so every call answers MODEL_UNAVAILABLE — never a fake Adaptation.
import type { Deps } from "./deps";
import { modelUnavailable } from "./errors";
import type { Adaptation } from "./types";

export async function adaptTask(_deps: Deps, _taskId: string): Promise<Adaptation> {
  throw modelUnavailable("No model version is active: adaptation needs a meta-trained model (STUB until issue 4).");
}
