// Tasks: what an agent learns from a handful of examples. This module owns the `tasks` table: it reads,
// lists and deletes tasks and builds their INSERT/UPDATE statements. Defining a task together with its
// examples (or from a plain-language request) is functions/taskSetup.ts, which spans both tables.
import type { z } from "zod";
import { getAgent } from "./agents";
import type { Deps } from "./deps";
import { notFound } from "./errors";
import { listPage } from "./pagination";
import { nowIso, toTask, type TaskRow } from "./rows";
import type { Page, PageArgs, Task } from "./types";
import type { createTaskSchema } from "./validation";

export async function getTask(deps: Deps, id: string): Promise<Task> {
  const row = await deps.db
    .prepare("SELECT * FROM tasks WHERE id = ? AND account_id = ?")
    .bind(id, deps.accountId)
    .first<TaskRow>();
  if (!row) throw notFound("Task", id);
  return toTask(row);
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
    .prepare(`UPDATE tasks SET ${set.map(([c]) => `${c} = ?`).join(", ")}, updated_at = ? WHERE id = ? AND account_id = ?`)
    .bind(...set.map(([, v]) => v), nowIso(), id, deps.accountId)
    .run();
}

/** Returns the task as it was; its examples, executions, conversations and feedback go with it. */
export async function deleteTask(deps: Deps, id: string): Promise<Task> {
  const task = await getTask(deps, id);
  await deps.db.prepare("DELETE FROM tasks WHERE id = ? AND account_id = ?").bind(id, deps.accountId).run();
  return task;
}
