// Adaptations: the meta-learned head fitted to one task's support set (the inner loop, run at the edge by
// functions/model). This module owns the `adaptations` table: each row keeps the fitted head (a BLOB),
// its support fingerprint, metrics and timing. Deciding when to adapt is functions/predictions.ts.
import { placeholders, chunked, rowsByIds } from "./d1";
import type { Deps } from "./deps";
import { firstPages, listPage, type ChildList } from "./pagination";
import { toAdaptation, type AdaptationRow } from "./rows";
import { getTask } from "./tasks";
import type { Adaptation, Page, PageArgs } from "./types";

/** The newest stored Adaptation of the task for exactly this support fingerprint, with its head BLOB. */
export async function adaptationForFingerprint(
  deps: Deps,
  taskId: string,
  fingerprint: string,
): Promise<{ adaptation: Adaptation; head: ArrayBuffer | null } | null> {
  const row = await deps.db
    .prepare(
      `SELECT * FROM adaptations WHERE account_id = ? AND task_id = ? AND support_fingerprint = ?
       ORDER BY created_at DESC, id DESC LIMIT 1`,
    )
    .bind(deps.accountId, taskId, fingerprint)
    .first<AdaptationRow & { head: ArrayBuffer | number[] | null }>();
  if (!row) return null;
  const head = row.head == null ? null : row.head instanceof ArrayBuffer ? row.head : Uint8Array.from(row.head).buffer;
  return { adaptation: toAdaptation(row), head };
}

/** Stores an Adaptation with its packed head. */
export async function insertAdaptation(deps: Deps, a: Adaptation, head: ArrayBuffer): Promise<void> {
  await deps.db
    .prepare(
      `INSERT INTO adaptations (id, account_id, task_id, model_version, algorithm, steps, support_size, labels_json,
         support_loss_before, support_loss_after, support_acc_before, support_acc_after, duration_ms,
         support_fingerprint, head, created_at)
       VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)`,
    )
    .bind(
      a.id, a.accountId, a.taskId, a.modelVersion, a.algorithm, a.steps, a.supportSize, JSON.stringify(a.labels),
      a.supportLossBefore, a.supportLossAfter, a.supportAccBefore, a.supportAccAfter, a.durationMs,
      a.supportFingerprint, head, a.createdAt,
    )
    .run();
}

export async function getLatestAdaptation(deps: Deps, taskId: string): Promise<Adaptation | null> {
  await getTask(deps, taskId);
  return (await latestAdaptationsOfTasks(deps, [taskId]))[0] ?? null;
}

/** The newest Adaptation of each task (null: never adapted), in one batch, for GraphQL's loaders. */
export async function latestAdaptationsOfTasks(deps: Deps, taskIds: readonly string[]): Promise<(Adaptation | null)[]> {
  if (taskIds.length === 0) return [];
  const pages = await deps.db.batch<AdaptationRow>(
    chunked(taskIds).map((chunk) =>
      deps.db
        .prepare(
          `SELECT * FROM (SELECT *, ROW_NUMBER() OVER (PARTITION BY task_id ORDER BY created_at DESC, id DESC) AS newest
             FROM adaptations WHERE account_id = ? AND task_id IN (${placeholders(chunk.length)})) WHERE newest = 1`,
        )
        .bind(deps.accountId, ...chunk),
    ),
  );
  const byTask = new Map(pages.flatMap((p) => p.results).map((row) => [row.task_id, toAdaptation(row)]));
  return taskIds.map((id) => byTask.get(id) ?? null);
}

/** Many adaptations by id, in the callers' order (null: not this account's), for GraphQL's loaders. */
export const adaptationsByIds = (deps: Deps, ids: readonly string[]) => rowsByIds(deps.db, "adaptations", deps.accountId, ids, toAdaptation);

const ADAPTATIONS_OF_TASK: ChildList<AdaptationRow, Adaptation> = { table: "adaptations", parentColumn: "task_id", map: toAdaptation };

/** The first page of adaptations of each task (one batch), for GraphQL's loaders. */
export const firstAdaptationsOfTasks = (deps: Deps, taskIds: readonly string[], first: number) =>
  firstPages(deps.db, ADAPTATIONS_OF_TASK, deps.accountId, taskIds, first);

export async function listAdaptations(deps: Deps, taskId: string, page: PageArgs = {}): Promise<Page<Adaptation>> {
  await getTask(deps, taskId);
  return listPage<AdaptationRow, Adaptation>(
    deps.db,
    { table: "adaptations", where: "account_id = ? AND task_id = ?", params: [deps.accountId, taskId], map: toAdaptation },
    page,
  );
}
