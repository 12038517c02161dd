// Examples: a task's support set. Stored in one batch, then handed to the model runtime once so it can
// compute their embeddings (not per execution).
import { newId } from "./ids";
import type { z } from "zod";
import type { Deps } from "./deps";
import { notFound, validationFailed, type FieldIssue } from "./errors";
import { embedNewExamples } from "./model/index";
import { listPage } from "./pagination";
import { toExample, type ExampleRow } from "./rows";
import { getTask } from "./tasks";
import type { Example, ExampleSource, Page, PageArgs, Task } from "./types";
import { canonicalLabel } from "./labels";
import { exampleListSchema, LIMITS, parseInput, type exampleInputSchema } from "./validation";
import { chunked, placeholders, writeBatch } from "./d1";

export type ExampleInput = z.input<typeof exampleInputSchema>;
type ParsedExample = z.output<typeof exampleInputSchema>;

/**
 * Rules that depend on the task: classification needs a label from its set (matched ignoring case and
 * Unicode normalisation, and stored in the task's spelling); generation needs an output. A classification
 * task without a label list takes its labels from its examples (`existing`: those already stored), at
 * most LIMITS.labels of them.
 */
export function checkExamplesFitTask(
  task: Pick<Task, "kind" | "labels">,
  items: ParsedExample[],
  pathPrefix = "examples",
  existing: readonly string[] = [],
): void {
  const issues: FieldIssue[] = [];
  const known = task.labels.length > 0 ? [...task.labels] : [...existing];
  items.forEach((item, i) => {
    if (task.kind === "classification") {
      if (!item.label) {
        issues.push({ path: `${pathPrefix}.${i}.label`, message: "a classification example needs a label" });
        return;
      }
      const canonical = canonicalLabel(known, item.label);
      if (canonical) item.label = canonical;
      else if (task.labels.length > 0) issues.push({ path: `${pathPrefix}.${i}.label`, message: `"${item.label}" is not one of the task's labels` });
      else known.push(item.label);
    } else if (!item.output) {
      issues.push({ path: `${pathPrefix}.${i}.output`, message: "a generation example needs an output" });
    }
  });
  if (task.labels.length === 0 && known.length > LIMITS.labels) {
    issues.push({ path: pathPrefix, message: `a task without a label list may use at most ${LIMITS.labels} distinct labels (this would make ${known.length})` });
  }
  if (issues.length > 0) throw validationFailed(issues);
}

/** The distinct labels of a task's stored examples (for a task without a label list). */
export async function storedLabels(deps: Deps, taskId: string): Promise<string[]> {
  const { results } = await deps.db
    .prepare("SELECT DISTINCT label FROM examples WHERE account_id = ? AND task_id = ? AND label IS NOT NULL")
    .bind(deps.accountId, taskId)
    .all<{ label: string }>();
  return results.map((r) => r.label);
}

/** Bumps the task's examples_version: in the same batch as every insert or delete of its examples. */
const bumpVersionStatement = (deps: Deps, taskId: string) =>
  deps.db.prepare("UPDATE tasks SET examples_version = examples_version + 1 WHERE id = ? AND account_id = ?").bind(taskId, deps.accountId);

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
  return { ids, statements: [...statements, bumpVersionStatement(deps, taskId)] };
}

export async function getExamplesByIds(deps: Deps, ids: string[]): Promise<Example[]> {
  if (ids.length === 0) return [];
  const pages = await deps.db.batch<ExampleRow>(
    chunked(ids).map((chunk) =>
      deps.db.prepare(`SELECT * FROM examples WHERE account_id = ? AND id IN (${placeholders(chunk.length)})`).bind(deps.accountId, ...chunk),
    ),
  );
  const byId = new Map(pages.flatMap((p) => p.results).map((r) => [r.id, toExample(r)]));
  return ids.flatMap((id) => byId.get(id) ?? []); // the caller's order (e.g. most similar first)
}

export async function addExamples(deps: Deps, taskId: string, items: ExampleInput[]): Promise<Example[]> {
  const parsed = parseInput(exampleListSchema.min(1), items);
  const task = await getTask(deps, taskId);
  const labelless = task.kind === "classification" && task.labels.length === 0;
  checkExamplesFitTask(task, parsed, "examples", labelless ? await storedLabels(deps, taskId) : []);
  const { ids, statements } = insertExampleStatements(deps, taskId, parsed);
  await writeBatch(deps.db, statements, () => notFound("Task", taskId)); // deleted meanwhile: nothing written
  await embedNewExamples(deps, ids);
  return getExamplesByIds(deps, ids);
}

/** Returns the removed example. */
export async function removeExample(deps: Deps, exampleId: string): Promise<Example> {
  const [example] = await getExamplesByIds(deps, [exampleId]);
  if (!example) throw notFound("Example", exampleId);
  await deps.db.batch([
    deps.db.prepare("DELETE FROM examples WHERE id = ? AND account_id = ?").bind(exampleId, deps.accountId),
    bumpVersionStatement(deps, example.taskId),
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
