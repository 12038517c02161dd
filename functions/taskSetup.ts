// Defining a task: creating it with its examples in one batch, explicitly or drafted by the LLM from a
// plain-language request (the seed's generate_description step, "task understanding"), adding examples,
// and changing it. It spans two tables, so it composes their owners (functions/tasks.ts and
// functions/examples.ts), and has new examples featurised once, when stored (functions/predictions.ts).
import type { z } from "zod";
import { getAgent } from "./agents";
import type { Deps } from "./deps";
import { writeBatch } from "./d1";
import { llmUnavailable, notFound, validationFailed } from "./errors";
import {
  checkExampleCap, checkExamplesFitTask, exampleCapGuard, exampleCount, getExamplesByIds, insertExampleStatements, labelsGuard,
  storedLabels, withCurrentLabels, type ExampleInput,
} from "./examples";
import { newId } from "./ids";
import { canonicalLabel } from "./labels";
import { chatComplete, type LlmEnv } from "./llm";
import { embedNewExamples } from "./predictions";
import { taskUnderstandingMessages } from "./prompts";
import { getTask, insertTaskStatement, updateTaskColumns } from "./tasks";
import type { Example, Task } from "./types";
import {
  createTaskFromRequestSchema, createTaskSchema, exampleListSchema, parseInput, taskDraftSchema, updateTaskSchema,
} from "./validation";

export type CreateTaskInput = z.input<typeof createTaskSchema>;
export type CreateTaskFromRequestInput = z.input<typeof createTaskFromRequestSchema>;
export type UpdateTaskInput = z.input<typeof updateTaskSchema>;

async function insertTask(deps: Deps, data: z.output<typeof createTaskSchema>, sourceRequest: string | null): Promise<Task> {
  await getAgent(deps, data.agentId);
  checkExamplesFitTask(data, data.examples);
  const id = newId();
  const examples = insertExampleStatements(deps, id, data.examples);
  // the task and its examples, or nothing
  await deps.db.batch([insertTaskStatement(deps, id, data, sourceRequest), ...examples.statements]);
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
  for (const ex of data.examples) if (ex.label && !canonicalLabel(labels, ex.label)) labels.push(ex.label);
  const task = parseInput(createTaskSchema, { ...draft.data, labels, agentId: agent.id, examples: data.examples });
  return insertTask(deps, task, data.request);
}

export async function updateTask(deps: Deps, id: string, input: UpdateTaskInput): Promise<Task> {
  const data = parseInput(updateTaskSchema, input);
  const task = await getTask(deps, id);
  if (data.labels && data.labels.length > 0 && task.kind === "classification") {
    // A label set that drops a label still used by an example would leave that example unanswerable.
    const inUse = await storedLabels(deps, id);
    const dropped = inUse.filter((l) => !data.labels!.includes(l));
    if (dropped.length > 0) {
      throw validationFailed([{ path: "labels", message: `examples still use: ${dropped.join(", ")} (remove or relabel them first)` }]);
    }
  }
  await updateTaskColumns(deps, id, data);
  return getTask(deps, id);
}

/**
 * Adds examples to a task in one batch (all or none), then has them featurised. On a task without a
 * label list the new labels are checked against the stored ones inside the write (labelsGuard).
 */
export async function addExamples(deps: Deps, taskId: string, items: ExampleInput[]): Promise<Example[]> {
  const parsed = parseInput(exampleListSchema.min(1), items);
  const ids = await withCurrentLabels(async () => {
    const task = await getTask(deps, taskId);
    const labelless = task.kind === "classification" && task.labels.length === 0;
    const existing = labelless ? await storedLabels(deps, taskId) : [];
    const fitted = parsed.map((item) => ({ ...item })); // checked afresh on each attempt
    const added = checkExamplesFitTask(task, fitted, "examples", existing);
    checkExampleCap(await exampleCount(deps, taskId), fitted.length, "examples");
    const { ids, statements } = insertExampleStatements(deps, taskId, fitted);
    // deleted meanwhile: nothing written
    await writeBatch(deps.db, [
      ...exampleCapGuard(deps, taskId, fitted.length), ...labelsGuard(deps, taskId, existing, added), ...statements,
    ], () => notFound("Task", taskId));
    return ids;
  });
  await embedNewExamples(deps, ids);
  return getExamplesByIds(deps, ids);
}
