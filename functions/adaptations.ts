// Adaptations of a task's head to its support set (the inner loop, run at the edge by functions/model).
import type { Deps } from "./deps";
import { modelUnavailable, validationFailed } from "./errors";
import { adaptedTask } from "./model/adaptation";
import { useActiveModel } from "./model/loader";
import { loadSupport } from "./model/support";
import { listPage } from "./pagination";
import { toAdaptation, type AdaptationRow } from "./rows";
import { getTask } from "./tasks";
import type { Adaptation, Page, PageArgs } from "./types";

/** The task's current Adaptation: reused while its examples and the model version are unchanged, else redone. */
export async function adaptTask(deps: Deps, taskId: string): Promise<Adaptation> {
  await getTask(deps, taskId);
  const adapted = await useActiveModel(deps, undefined, async (model) => {
    if (!model) throw modelUnavailable("No ModelVersion is active: publish and activate one before adapting tasks.");
    return adaptedTask(deps, model, taskId, await loadSupport(deps, model, taskId));
  });
  if (!adapted) {
    throw validationFailed([{ path: "taskId", message: "adaptation needs labelled examples of at least 2 labels" }]);
  }
  return adapted.adaptation;
}

export async function getLatestAdaptation(deps: Deps, taskId: string): Promise<Adaptation | null> {
  await getTask(deps, taskId);
  const row = await deps.db
    .prepare("SELECT * FROM adaptations WHERE account_id = ? AND task_id = ? ORDER BY created_at DESC, id DESC LIMIT 1")
    .bind(deps.accountId, taskId)
    .first<AdaptationRow>();
  return row ? toAdaptation(row) : null;
}

export async function listAdaptations(deps: Deps, taskId: string, page: PageArgs = {}): Promise<Page<Adaptation>> {
  await getTask(deps, taskId);
  return listPage<AdaptationRow, Adaptation>(
    deps.db,
    { table: "adaptations", where: "account_id = ? AND task_id = ?", params: [deps.accountId, taskId], map: toAdaptation },
    page,
  );
}
