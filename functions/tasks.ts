// Tasks: what an agent learns from a handful of examples. This module owns the `tasks` table: it reads,
// lists and deletes tasks, builds their INSERT/UPDATE statements, and keeps examples_version, the number
// that every insert or delete of the task's examples bumps (the support set's cache key), and version,
// the number every update of the row bumps. Defining a task together with its
// examples (or from a plain-language request) is functions/taskSetup.ts, which spans both tables.
import type { z } from "zod";
import { getAgent } from "./agents";
import type { Deps } from "./deps";
import { notFound } from "./errors";
import { chunked, placeholders, rowsByIds, type SqlCondition } from "./d1";
import { firstPages, listPage, type ChildList } from "./pagination";
import { nowIso, toTask, type TaskRow } from "./rows";
import type { Page, PageArgs, Task } from "./types";
import type { createTaskSchema } from "./validation";

/** The task's row, for callers that batch it with other reads (read it back with taskOfRow). */
export const taskStatement = (deps: Deps, id: string) =>
  deps.db.prepare("SELECT * FROM tasks WHERE id = ? AND account_id = ?").bind(id, deps.accountId);

/** The Task of a taskStatement's row, its examples_version and its row version; NOT_FOUND without a row. */
export function taskOfRow(row: TaskRow | undefined, id: string): { task: Task; examplesVersion: number; version: number } {
  if (!row) throw notFound("Task", id);
  return { task: toTask(row), examplesVersion: row.examples_version, version: row.version };
}

/** SQL true while the task's row and its examples are still at these versions (a write batch's guard). */
export const taskUnchanged = (deps: Deps, id: string, version: number, examplesVersion: number): SqlCondition => ({
  sql: "EXISTS (SELECT 1 FROM tasks WHERE id = ? AND account_id = ? AND version = ? AND examples_version = ?)",
  params: [id, deps.accountId, version, examplesVersion],
});

export async function getTask(deps: Deps, id: string): Promise<Task> {
  return taskOfRow((await taskStatement(deps, id).first<TaskRow>()) ?? undefined, id).task;
}

/** Many tasks by id, in the callers' order (null: not this account's), for GraphQL's loaders. */
export const tasksByIds = (deps: Deps, ids: readonly string[]) => rowsByIds(deps.db, "tasks", deps.accountId, ids, toTask);

const TASKS_OF_AGENT: ChildList<TaskRow, Task> = { table: "tasks", parentColumn: "agent_id", map: toTask };

/** The first page of tasks of each agent (one batch), for GraphQL's loaders. */
export const firstTasksOfAgents = (deps: Deps, agentIds: readonly string[], first: number) =>
  firstPages(deps.db, TASKS_OF_AGENT, deps.accountId, agentIds, first);

/** Bumps the task's examples_version: in the same batch as every insert or delete of its examples. */
export const bumpExamplesVersionStatement = (deps: Deps, taskId: string) =>
  deps.db.prepare("UPDATE tasks SET examples_version = examples_version + 1 WHERE id = ? AND account_id = ?").bind(taskId, deps.accountId);

/** These tasks' rows across accounts (the feedback export), by id. */
export async function tasksForExport(db: D1Database, ids: readonly string[]): Promise<Map<string, Task>> {
  if (ids.length === 0) return new Map();
  const pages = await db.batch<TaskRow>(
    chunked(ids).map((chunk) => db.prepare(`SELECT * FROM tasks WHERE id IN (${placeholders(chunk.length)})`).bind(...chunk)),
  );
  return new Map(pages.flatMap((p) => p.results).map((r) => [r.id, toTask(r)]));
}

/** Every classification task of every account (the promotion gate's leave-out), oldest first, at most `limit`. */
/** Classification tasks of every account (or of `accountId` only), by account, oldest first. */
export async function classificationTasks(db: D1Database, limit: number, accountId: string | null = null): Promise<{ id: string; accountId: string }[]> {
  const { results } = await db
    .prepare(
      `SELECT id, account_id FROM tasks WHERE kind = 'classification' AND (? IS NULL OR account_id = ?)
       ORDER BY account_id, created_at, id LIMIT ?`,
    )
    .bind(accountId, accountId, limit)
    .all<{ id: string; account_id: string }>();
  return results.map((r) => ({ id: r.id, accountId: r.account_id }));
}

export async function listTasks(deps: Deps, filter: { agentId?: string | null } = {}, page: PageArgs = {}): Promise<Page<Task>> {
  if (filter.agentId) {
    await getAgent(deps, filter.agentId);
    return listPage<TaskRow, Task>(
      deps.db,
      { table: "tasks", where: "account_id = ? AND agent_id = ?", params: [deps.accountId, filter.agentId], map: toTask },
      page,
    );
  }
  return listPage<TaskRow, Task>(deps.db, { table: "tasks", where: "account_id = ?", params: [deps.accountId], map: toTask }, page);
}

/** The INSERT of a new task (the caller batches it with the task's examples). */
export function insertTaskStatement(
  deps: Deps,
  id: string,
  data: z.output<typeof createTaskSchema>,
  sourceRequest: string | null,
): D1PreparedStatement {
  return deps.db
    .prepare(
      `INSERT INTO tasks (id, account_id, agent_id, name, description, kind, labels_json, parameters_json,
         confidence_threshold, source_request) VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?)`,
    )
    .bind(
      id, deps.accountId, data.agentId, data.name, data.description, data.kind, JSON.stringify(data.labels),
      JSON.stringify(data.parameters), data.confidenceThreshold, sourceRequest,
    );
}

/** The columns a task's owner may change; undefined ones stay as they are. */
export interface TaskChanges {
  name?: string;
  description?: string;
  labels?: string[];
  parameters?: Record<string, unknown>;
  confidenceThreshold?: number;
}

export async function updateTaskColumns(deps: Deps, id: string, changes: TaskChanges): Promise<void> {
  const columns: Record<string, unknown> = {
    name: changes.name,
    description: changes.description,
    labels_json: changes.labels === undefined ? undefined : JSON.stringify(changes.labels),
    parameters_json: changes.parameters === undefined ? undefined : JSON.stringify(changes.parameters),
    confidence_threshold: changes.confidenceThreshold,
  };
  const set = Object.entries(columns).filter(([, v]) => v !== undefined);
  if (set.length === 0) return;
  await deps.db
    .prepare(`UPDATE tasks SET ${set.map(([c]) => `${c} = ?`).join(", ")}, updated_at = ?, version = version + 1 WHERE id = ? AND account_id = ?`)
    .bind(...set.map(([, v]) => v), nowIso(), id, deps.accountId)
    .run();
}

/** Returns the task as it was; its examples, executions, conversations and feedback go with it. */
export async function deleteTask(deps: Deps, id: string): Promise<Task> {
  const task = await getTask(deps, id);
  await deps.db.prepare("DELETE FROM tasks WHERE id = ? AND account_id = ?").bind(id, deps.accountId).run();
  return task;
}
