// Feedback on an execution. A correction (label or output) becomes a new Example of the task (source
// 'feedback') in the same batch as the Feedback row, so the task learns from it on its next adaptation;
// every Feedback row also waits in the export queue (exported_at NULL) for the next meta-training run.
// This module owns the `feedback` table, the export queue's reads and marks included.
import { chunked, placeholders, writeBatch } from "./d1";
import { newId } from "./ids";
import type { z } from "zod";
import type { Deps } from "./deps";
import { notFound, validationFailed } from "./errors";
import {
  checkExampleCap, checkExamplesFitTask, exampleCapGuard, exampleCount, insertExampleStatements, labelsGuard, storedLabels,
  withCurrentLabels,
} from "./examples";
import { canonicalLabel } from "./labels";
import { getExecution } from "./executions";
import { embedNewExamples } from "./predictions";
import { firstPages, listPage, type ChildList } from "./pagination";
import { toFeedback, type FeedbackRow } from "./rows";
import { getTask } from "./tasks";
import type { Feedback, Page, PageArgs, Task } from "./types";
import { LIMITS, parseInput, submitFeedbackSchema } from "./validation";

export type SubmitFeedbackInput = z.input<typeof submitFeedbackSchema>;

export async function getFeedback(deps: Deps, id: string): Promise<Feedback | null> {
  const row = await deps.db
    .prepare("SELECT * FROM feedback WHERE id = ? AND account_id = ?")
    .bind(id, deps.accountId)
    .first<FeedbackRow>();
  return row ? toFeedback(row) : null;
}

/**
 * The same rules as for examples (examples.ts), reported against this input's field names: the label is
 * stored in the task's spelling, and on a task without a label list a new one counts against the cap.
 * Returns the labels the correction adds to such a task (`existing`: its stored ones).
 */
function checkCorrectionFitsTask(
  task: Task,
  data: { correctedLabel?: string | null; correctedOutput?: string | null },
  existing: readonly string[],
): string[] {
  if (task.kind === "generation") {
    if (data.correctedOutput == null) {
      throw validationFailed([{ path: "correctedOutput", message: "a generation task is corrected with an output" }]);
    }
    return [];
  }
  if (data.correctedLabel == null) {
    throw validationFailed([{ path: "correctedLabel", message: "a classification task is corrected with a label" }]);
  }
  if (task.labels.length > 0) {
    const canonical = canonicalLabel(task.labels, data.correctedLabel);
    if (!canonical) throw validationFailed([{ path: "correctedLabel", message: `must be one of the task's labels: ${task.labels.join(", ")}` }]);
    data.correctedLabel = canonical; // the task's spelling
    return [];
  }
  const item = { input: "-", label: data.correctedLabel };
  const added = checkExamplesFitTask(task, [item], () => "correctedLabel", existing);
  data.correctedLabel = item.label; // the spelling of the examples that used it first
  return added;
}

export async function submitFeedback(deps: Deps, input: SubmitFeedbackInput): Promise<Feedback> {
  const parsed = parseInput(submitFeedbackSchema, input);
  const execution = await getExecution(deps, parsed.executionId);
  const correction = parsed.correctedLabel != null || parsed.correctedOutput != null;
  const { id, exampleIds } = await withCurrentLabels(async () => {
    const task = await getTask(deps, execution.taskId);
    const data = { ...parsed }; // checked afresh on each attempt
    const existing = correction && task.kind === "classification" && task.labels.length === 0 ? await storedLabels(deps, task.id) : [];
    const added = correction ? checkCorrectionFitsTask(task, data, existing) : [];
    // A correction becomes an example: at a full task it is refused whole (the rating with it), so that
    // the caller learns the correction was not kept; the same feedback without one is still accepted.
    if (correction) checkExampleCap(await exampleCount(deps, task.id), 1, task.kind === "generation" ? "correctedOutput" : "correctedLabel");
    const example = correction
      ? insertExampleStatements(deps, task.id, [{ input: execution.input, label: data.correctedLabel, output: data.correctedOutput }], "feedback")
      : { ids: [], statements: [] };
    const id = newId();
    // The execution's task may have been deleted meanwhile (its executions with it): nothing is written then.
    await writeBatch(deps.db, [
      ...exampleCapGuard(deps, task.id, example.ids.length),
      ...labelsGuard(deps, task.id, existing, added),
      ...example.statements,
      deps.db
        .prepare(
          `INSERT INTO feedback (id, account_id, task_id, execution_id, rating, corrected_label, corrected_output, comment, example_id)
           VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?)`,
        )
        .bind(id, deps.accountId, task.id, execution.id, data.rating ?? null, data.correctedLabel ?? null,
          data.correctedOutput ?? null, data.comment, example.ids[0] ?? null),
    ], () => notFound("Execution", execution.id));
    return { id, exampleIds: example.ids };
  });
  if (exampleIds.length > 0) await embedNewExamples(deps, exampleIds);
  return (await getFeedback(deps, id))!;
}

export async function listFeedback(deps: Deps, taskId: string, page: PageArgs = {}): Promise<Page<Feedback>> {
  await getTask(deps, taskId);
  return listPage<FeedbackRow, Feedback>(
    deps.db,
    { table: "feedback", where: "account_id = ? AND task_id = ?", params: [deps.accountId, taskId], map: toFeedback },
    page,
  );
}

const FEEDBACK_OF_TASK: ChildList<FeedbackRow, Feedback> = { table: "feedback", parentColumn: "task_id", map: toFeedback };

/** The first page of feedback of each task (one batch), for GraphQL's loaders. */
export const firstFeedbackOfTasks = (deps: Deps, taskIds: readonly string[], first: number) =>
  firstPages(deps.db, FEEDBACK_OF_TASK, deps.accountId, taskIds, first);

/** All Feedback on each execution, oldest first (a handful per execution at most), in one batch. */
export async function feedbackOfExecutions(deps: Deps, executionIds: readonly string[]): Promise<Feedback[][]> {
  if (executionIds.length === 0) return [];
  const pages = await deps.db.batch<FeedbackRow>(
    chunked(executionIds).map((chunk) =>
      deps.db
        .prepare(
          `SELECT * FROM feedback WHERE account_id = ? AND execution_id IN (${placeholders(chunk.length)})
           ORDER BY created_at, id LIMIT ?`,
        )
        .bind(deps.accountId, ...chunk, LIMITS.pageSize * chunk.length),
    ),
  );
  const rows = pages.flatMap((p) => p.results);
  return executionIds.map((id) => rows.filter((row) => row.execution_id === id).map(toFeedback));
}

/** Feedback not exported yet, oldest first, at most `limit`, across accounts (the scheduled export). */
export async function unexportedFeedback(db: D1Database, limit: number): Promise<FeedbackRow[]> {
  const { results } = await db
    .prepare("SELECT * FROM feedback WHERE exported_at IS NULL ORDER BY created_at, id LIMIT ?")
    .bind(limit)
    .all<FeedbackRow>();
  return results;
}

/** Marks these Feedback rows exported at `stamp`, in one batch. */
export async function markFeedbackExported(db: D1Database, ids: readonly string[], stamp: string): Promise<void> {
  if (ids.length === 0) return;
  await db.batch(chunked(ids).map((chunk) => db.prepare(`UPDATE feedback SET exported_at = ? WHERE id IN (${placeholders(chunk.length)})`).bind(stamp, ...chunk)));
}
