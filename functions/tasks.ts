// Tasks: what an agent learns from a handful of examples. Created explicitly, or drafted by the LLM from a
// plain-language request (the seed's generate_description step), then stored with its examples in one batch.
import { newId } from "./ids";
import type { z } from "zod";
import { getAgent } from "./agents";
import type { Deps } from "./deps";
import { llmUnavailable, notFound, validationFailed } from "./errors";
import { checkExamplesFitTask, insertExampleStatements } from "./examples";
import { chatComplete, type LlmEnv } from "./llm";
import { embedNewExamples } from "./model/index";
import { listPage } from "./pagination";
import { taskUnderstandingMessages } from "./prompts";
import { nowIso, toTask, type TaskRow } from "./rows";
import type { Page, PageArgs, Task } from "./types";
import {
  createTaskFromRequestSchema, createTaskSchema, parseInput, taskDraftSchema, updateTaskSchema,
} from "./validation";

export type CreateTaskInput = z.input<typeof createTaskSchema>;
export type CreateTaskFromRequestInput = z.input<typeof createTaskFromRequestSchema>;
export type UpdateTaskInput = z.input<typeof updateTaskSchema>;

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

async function insertTask(deps: Deps, data: z.output<typeof createTaskSchema>, sourceRequest: string | null): Promise<Task> {
  await getAgent(deps, data.agentId);
  checkExamplesFitTask(data, data.examples);
  const id = newId();
  const task = deps.db
    .prepare(
      `INSERT INTO tasks (id, account_id, agent_id, name, description, kind, labels_json, parameters_json,
         confidence_threshold, source_request) VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?)`,
    )
    .bind(
      id, deps.accountId, data.agentId, data.name, data.description, data.kind, JSON.stringify(data.labels),
      JSON.stringify(data.parameters), data.confidenceThreshold, sourceRequest,
    );
  const examples = insertExampleStatements(deps, id, data.examples);
  await deps.db.batch([task, ...examples.statements]); // the task and its examples, or nothing
  if (examples.ids.length > 0) await embedNewExamples(deps, examples.ids);
  return getTask(deps, id);
}

export async function createTask(deps: Deps, input: CreateTaskInput): Promise<Task> {
  return insertTask(deps, parseInput(createTaskSchema, input), null);
}

/** The LLM turns the request into name/description/kind/labels/parameters; its JSON is validated, never trusted. */
export async function createTaskFromRequest(deps: Deps, input: CreateTaskFromRequestInput): Promise<Task> {
  const data = parseInput(createTaskFromRequestSchema, input);
  const agent = await getAgent(deps, data.agentId);
  const answer = await chatComplete(deps.env as LlmEnv, agent, taskUnderstandingMessages(data.request, data.examples), {
    json: true,
  });
  let json: unknown;
  try {
    json = JSON.parse(answer.content.replace(/^```(?:json)?\s*|\s*```$/g, ""));
  } catch {
    throw llmUnavailable("The LLM's task draft was not JSON.");
  }
  const draft = taskDraftSchema.safeParse(json);
  if (!draft.success) throw llmUnavailable("The LLM's task draft did not have the expected fields (name, description, kind, labels).");
  const labels = [...draft.data.labels];
  // Labels the caller's examples use belong to the task even if the LLM forgot one.
  for (const ex of data.examples) if (ex.label && !labels.includes(ex.label)) labels.push(ex.label);
  const task = parseInput(createTaskSchema, { ...draft.data, labels, agentId: agent.id, examples: data.examples });
  return insertTask(deps, task, data.request);
}

export async function updateTask(deps: Deps, id: string, input: UpdateTaskInput): Promise<Task> {
  const data = parseInput(updateTaskSchema, input);
  const task = await getTask(deps, id);
  if (data.labels && data.labels.length > 0 && task.kind === "classification") {
    // A label set that drops a label still used by an example would leave that example unanswerable.
    const { results } = await deps.db
      .prepare("SELECT DISTINCT label FROM examples WHERE account_id = ? AND task_id = ? AND label IS NOT NULL")
      .bind(deps.accountId, id)
      .all<{ label: string }>();
    const dropped = results.map((r) => r.label).filter((l) => !data.labels!.includes(l));
    if (dropped.length > 0) {
      throw validationFailed([{ path: "labels", message: `examples still use: ${dropped.join(", ")} (remove or relabel them first)` }]);
    }
  }
  const columns: Record<string, unknown> = {
    name: data.name,
    description: data.description,
    labels_json: data.labels === undefined ? undefined : JSON.stringify(data.labels),
    parameters_json: data.parameters === undefined ? undefined : JSON.stringify(data.parameters),
    confidence_threshold: data.confidenceThreshold,
  };
  const set = Object.entries(columns).filter(([, v]) => v !== undefined);
  if (set.length > 0) {
    await deps.db
      .prepare(`UPDATE tasks SET ${set.map(([c]) => `${c} = ?`).join(", ")}, updated_at = ? WHERE id = ? AND account_id = ?`)
      .bind(...set.map(([, v]) => v), nowIso(), id, deps.accountId)
      .run();
  }
  return getTask(deps, id);
}

/** Returns the task as it was; its examples, executions, conversations and feedback go with it. */
export async function deleteTask(deps: Deps, id: string): Promise<Task> {
  const task = await getTask(deps, id);
  await deps.db.prepare("DELETE FROM tasks WHERE id = ? AND account_id = ?").bind(id, deps.accountId).run();
  return task;
}
