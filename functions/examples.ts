// Examples: a task's support set. This module owns the `examples` table: the rows, their stored
// features (embedding + embedding_model_version, written by functions/predictions.ts through
// storeFeaturesStatements) and the reads the support set and the promotion gate need. Every insert or
// delete goes in one batch with the task's examples_version bump (functions/tasks.ts). Adding examples
// and featurising them is functions/taskSetup.ts.
import { newId } from "./ids";
import type { z } from "zod";
import type { Deps } from "./deps";
import { conflict, echoed, notFound, validationFailed, type FieldIssue } from "./errors";
import { firstPages, listPage, type ChildList } from "./pagination";
import type { SupportExample } from "./model/support";
import { toExample, type ExampleRow } from "./rows";
import { bumpExamplesVersionStatement, getTask } from "./tasks";
import type { Example, ExampleSource, Page, PageArgs, Task } from "./types";
import { canonicalLabel } from "./labels";
import { LIMITS, type exampleInputSchema } from "./validation";
import { chunked, guardStatement, isGuardFailure, placeholders, rowsByIds } from "./d1";

export type ExampleInput = z.input<typeof exampleInputSchema>;
type ParsedExample = z.output<typeof exampleInputSchema>;

/**
 * Rules that depend on the task: classification needs a label from its set (matched ignoring case and
 * Unicode normalisation, and stored in the task's spelling); generation needs an output. A classification
 * task without a label list takes its labels from its examples (`existing`: those already stored), at
 * most LIMITS.labels of them. `path(i, field)` names an item's field in the issues. Returns the labels
 * the items add to such a task (a write adding any must be guarded: labelsGuard).
 */
export function checkExamplesFitTask(
  task: Pick<Task, "kind" | "labels">,
  items: ParsedExample[],
  path: string | ((i: number, field: "label" | "output" | null) => string) = "examples",
  existing: readonly string[] = [],
): string[] {
  const at = typeof path === "string" ? (i: number, field: string | null) => (field ? `${path}.${i}.${field}` : path) : path;
  const issues: FieldIssue[] = [];
  const known = task.labels.length > 0 ? [...task.labels] : [...existing];
  const added: string[] = [];
  items.forEach((item, i) => {
    if (task.kind === "classification") {
      if (!item.label) {
        issues.push({ path: at(i, "label"), message: "a classification example needs a label" });
        return;
      }
      const canonical = canonicalLabel(known, item.label);
      if (canonical) item.label = canonical;
      else if (task.labels.length > 0) issues.push({ path: at(i, "label"), message: `"${echoed(item.label)}" is not one of the task's labels` });
      else {
        known.push(item.label);
        added.push(item.label);
      }
    } else if (!item.output) {
      issues.push({ path: at(i, "output"), message: "a generation example needs an output" });
    }
  });
  if (task.labels.length === 0 && known.length > LIMITS.labels) {
    issues.push({
      path: at(0, null),
      message: `a task without a label list may use at most ${LIMITS.labels} distinct labels (this would make ${known.length}): ${existing.length} stored, ${added.length} new`,
    });
  }
  if (issues.length > 0) throw validationFailed(issues);
  return added;
}

/** The distinct labels of a task's stored examples (for a task without a label list). */
export async function storedLabels(deps: Deps, taskId: string): Promise<string[]> {
  const { results } = await deps.db
    .prepare("SELECT DISTINCT label FROM examples WHERE account_id = ? AND task_id = ? AND label IS NOT NULL")
    .bind(deps.accountId, taskId)
    .all<{ label: string }>();
  return results.map((r) => r.label);
}

/**
 * The statements a write that adds labels to a task without a label list starts with: a guard that
 * aborts the batch (nothing written) unless the task's examples still use no label beyond `existing`,
 * the labels the write was checked against. So two writes racing cannot both pass the label cap, nor
 * store "Refund" and "refund" as two labels: the later one finds the other's labels and is checked
 * again (withCurrentLabels). Empty when nothing new is added.
 */
export function labelsGuard(deps: Deps, taskId: string, existing: readonly string[], added: readonly string[]): D1PreparedStatement[] {
  if (added.length === 0) return [];
  return [
    guardStatement(deps.db, [{
      // One JSON parameter, not an IN list: a task may have 200 labels, D1 binds at most 100 parameters.
      sql: `NOT EXISTS (SELECT 1 FROM examples WHERE account_id = ? AND task_id = ? AND label IS NOT NULL
              AND label NOT IN (SELECT value FROM json_each(?)))`,
      params: [deps.accountId, taskId, JSON.stringify(existing)],
    }]),
  ];
}

/** How many examples a task holds now (for the cap, LIMITS.examplesPerTask). */
export async function exampleCount(deps: Deps, taskId: string): Promise<number> {
  const row = await deps.db.prepare("SELECT COUNT(*) AS n FROM examples WHERE task_id = ?").bind(taskId).first<{ n: number }>();
  return row?.n ?? 0;
}

/**
 * Refuses a write that would take a task past LIMITS.examplesPerTask examples (`stored`: what it holds,
 * `adding`: what the write adds), with the issue at `path`.
 */
export function checkExampleCap(stored: number, adding: number, path: string): void {
  if (stored + adding <= LIMITS.examplesPerTask) return;
  throw validationFailed([{
    path,
    message: `a task holds at most ${LIMITS.examplesPerTask} examples: it has ${stored}, this would add ${adding}; remove some first (removeExample)`,
  }]);
}

/**
 * The guard a write adding `adding` examples starts with: it aborts the batch (nothing written) unless
 * the task still has room for them. The count read before the write can be stale by the time it runs
 * (two writes racing for the last places); the guard runs inside the batch, so at most one passes, and
 * the other is read and checked again (withCurrentLabels), then refused by checkExampleCap.
 */
export function exampleCapGuard(deps: Deps, taskId: string, adding: number): D1PreparedStatement[] {
  if (adding === 0) return [];
  return [guardStatement(deps.db, [{
    sql: "(SELECT COUNT(*) FROM examples WHERE task_id = ?) <= ?",
    params: [taskId, LIMITS.examplesPerTask - adding],
  }])];
}

/** How often a write whose labels guard failed is read and checked again before CONFLICT. */
export const LABEL_WRITE_ATTEMPTS = 5;

/**
 * Runs `attempt` (read the labels and the example count, check, write with labelsGuard and
 * exampleCapGuard) until its guards hold: each failure means another write added labels or examples
 * meanwhile and nothing of this one was written.
 */
export async function withCurrentLabels<T>(attempt: () => Promise<T>): Promise<T> {
  for (let n = 1; ; n++) {
    try {
      return await attempt();
    } catch (error) {
      if (!isGuardFailure(error)) throw error;
      if (n >= LABEL_WRITE_ATTEMPTS) throw conflict("The task's labels or examples kept changing while this was written; nothing was written: try again.");
    }
  }
}

/** INSERT statements for a batch, with the version bump (the caller decides what else goes in it). */
export function insertExampleStatements(
  deps: Deps,
  taskId: string,
  items: ParsedExample[],
  source: ExampleSource = "user",
): { ids: string[]; statements: D1PreparedStatement[] } {
  const ids = items.map(() => newId());
  const statements = items.map((item, i) =>
    deps.db
      .prepare("INSERT INTO examples (id, account_id, task_id, input, label, output, source) VALUES (?, ?, ?, ?, ?, ?, ?)")
      .bind(ids[i], deps.accountId, taskId, item.input, item.label ?? null, item.output ?? null, source),
  );
  return { ids, statements: [...statements, bumpExamplesVersionStatement(deps, taskId)] };
}

export async function getExamplesByIds(deps: Deps, ids: string[]): Promise<Example[]> {
  const found = await examplesByIds(deps, ids);
  return found.filter((e): e is Example => e !== null); // the caller's order (e.g. most similar first)
}

/** Many examples by id, in the callers' order (null: not this account's), for GraphQL's loaders. */
export const examplesByIds = (deps: Deps, ids: readonly string[]) => rowsByIds(deps.db, "examples", deps.accountId, ids, toExample);

const EXAMPLES_OF_TASK: ChildList<ExampleRow, Example> = { table: "examples", parentColumn: "task_id", map: toExample };

/** The first page of examples of each task (one batch), for GraphQL's loaders. */
export const firstExamplesOfTasks = (deps: Deps, taskIds: readonly string[], first: number) =>
  firstPages(deps.db, EXAMPLES_OF_TASK, deps.accountId, taskIds, first);

/** The task's oldest `limit` examples (stable prompts: the in-context LLM baseline's demonstrations). */
export async function oldestExamples(deps: Deps, taskId: string, limit: number): Promise<Example[]> {
  const { results } = await deps.db
    .prepare("SELECT * FROM examples WHERE account_id = ? AND task_id = ? ORDER BY created_at, id LIMIT ?")
    .bind(deps.accountId, taskId, limit)
    .all<ExampleRow>();
  return results.map(toExample);
}

/** Every example of the task with its stored features, in id order: the support set's rows. */
export async function supportExamples(deps: Deps, taskId: string): Promise<SupportExample[]> {
  const { results } = await deps.db
    .prepare(
      `SELECT id, input, label, output, embedding, embedding_model_version FROM examples
       WHERE account_id = ? AND task_id = ? ORDER BY id`,
    )
    .bind(deps.accountId, taskId)
    .all<SupportExample>();
  return results;
}

/**
 * The task's support rows with the stored features only of the examples not in `known` (ids whose
 * features the caller holds already, for the same model version): after a write to a large support set
 * this reads the new rows' features, not every row's. Examples are never edited, so an id's features
 * stay valid while the model version does.
 */
export async function supportExamplesExcept(deps: Deps, taskId: string, known: ReadonlySet<string>): Promise<SupportExample[]> {
  const { results } = await deps.db
    .prepare("SELECT id, input, label, output FROM examples WHERE account_id = ? AND task_id = ? ORDER BY id")
    .bind(deps.accountId, taskId)
    .all<Omit<SupportExample, "embedding" | "embedding_model_version">>();
  const missing = results.filter((r) => !known.has(r.id)).map((r) => r.id);
  const stored = new Map<string, Pick<SupportExample, "embedding" | "embedding_model_version">>();
  if (missing.length > 0) {
    const pages = await deps.db.batch<{ id: string } & Pick<SupportExample, "embedding" | "embedding_model_version">>(
      chunked(missing).map((chunk) =>
        deps.db
          .prepare(`SELECT id, embedding, embedding_model_version FROM examples WHERE account_id = ? AND id IN (${placeholders(chunk.length)})`)
          .bind(deps.accountId, ...chunk),
      ),
    );
    for (const row of pages.flatMap((p) => p.results)) stored.set(row.id, row);
  }
  return results.map((r) => ({ ...r, embedding: stored.get(r.id)?.embedding ?? null, embedding_model_version: stored.get(r.id)?.embedding_model_version ?? null }));
}

/** The inputs of these examples (to featurise them), in one batch. */
export async function exampleInputs(deps: Deps, ids: readonly string[]): Promise<{ id: string; input: string }[]> {
  if (ids.length === 0) return [];
  const pages = await deps.db.batch<{ id: string; input: string }>(
    chunked(ids).map((chunk) =>
      deps.db.prepare(`SELECT id, input FROM examples WHERE account_id = ? AND id IN (${placeholders(chunk.length)})`).bind(deps.accountId, ...chunk),
    ),
  );
  return pages.flatMap((p) => p.results);
}

/** UPDATEs storing features computed by `modelVersion` (row i of `features` for ids[i], `dim` floats each). */
export function storeFeaturesStatements(deps: Deps, modelVersion: string, ids: readonly string[], features: Float32Array, dim: number): D1PreparedStatement[] {
  const update = deps.db.prepare("UPDATE examples SET embedding = ?, embedding_model_version = ? WHERE id = ? AND account_id = ?");
  return ids.map((id, i) => update.bind(features.slice(i * dim, (i + 1) * dim).buffer, modelVersion, id, deps.accountId));
}

/** The labelled examples of these tasks, oldest first per task, across accounts (the promotion gate). */
export async function labelledExamplesOfTasks(db: D1Database, taskIds: readonly string[]): Promise<{ task_id: string; input: string; label: string }[]> {
  if (taskIds.length === 0) return [];
  const pages = await db.batch<{ task_id: string; input: string; label: string }>(
    chunked(taskIds).map((chunk) =>
      db
        .prepare(
          `SELECT task_id, input, label FROM examples WHERE task_id IN (${placeholders(chunk.length)})
             AND label IS NOT NULL AND label <> '' ORDER BY task_id, created_at, id`,
        )
        .bind(...chunk),
    ),
  );
  return pages.flatMap((p) => p.results);
}

/** Returns the removed example. */
export async function removeExample(deps: Deps, exampleId: string): Promise<Example> {
  const [example] = await getExamplesByIds(deps, [exampleId]);
  if (!example) throw notFound("Example", exampleId);
  await deps.db.batch([
    deps.db.prepare("DELETE FROM examples WHERE id = ? AND account_id = ?").bind(exampleId, deps.accountId),
    bumpExamplesVersionStatement(deps, example.taskId),
  ]);
  return example;
}

export async function listExamples(deps: Deps, taskId: string, page: PageArgs = {}): Promise<Page<Example>> {
  await getTask(deps, taskId);
  return listPage<ExampleRow, Example>(
    deps.db,
    { table: "examples", where: "account_id = ? AND task_id = ?", params: [deps.accountId, taskId], map: toExample },
    page,
  );
}

/** The inputs of an account's examples, newest first, at most `limit` (the account-texts snapshot). */
export async function accountExampleInputs(db: D1Database, accountId: string, limit: number): Promise<string[]> {
  const { results } = await db
    .prepare("SELECT input FROM examples WHERE account_id = ? ORDER BY created_at DESC LIMIT ?")
    .bind(accountId, limit)
    .all<{ input: string }>();
  return results.map((r) => r.input);
}

/** Accounts with examples created at or after `since` (ISO), in random order, at most `limit`. */
export async function accountsWithExamplesSince(db: D1Database, since: string, limit: number): Promise<string[]> {
  const { results } = await db
    .prepare("SELECT DISTINCT account_id FROM examples WHERE created_at >= ? ORDER BY RANDOM() LIMIT ?")
    .bind(since, limit)
    .all<{ account_id: string }>();
  return results.map((r) => r.account_id);
}
