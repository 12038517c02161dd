// Executing a task. The route through it depends on the meta-learned model (functions/model):
// - no prediction (no active model version, or no labelled example yet): the in-context LLM baseline,
//   path 'llm_baseline';
// - a classification task answered confidently, or with no LLM configured: the predicted label is the
//   answer, path 'model', no LLM call;
// - otherwise the LLM answers guided by the prediction and retrieved demonstrations, path 'model+llm'.
// The Execution and the conversation turn are written in ONE batch; an LLM failure stores a failed
// Execution and rethrows the typed error.
import { placeholders, writeBatch } from "./d1";
import { newId } from "./ids";
import type { z } from "zod";
import { getAgent } from "./agents";
import { getConversation, recentMessages } from "./conversations";
import type { Deps } from "./deps";
import { AppError, notFound, validationFailed } from "./errors";
import { getExamplesByIds } from "./examples";
import { chatComplete, isLlmConfigured, type LlmEnv, type LlmResult } from "./llm";
import { isPrediction, predictForTask, type NoPrediction, type Prediction } from "./model/index";
import { listPage } from "./pagination";
import { executionMessages } from "./prompts";
import { nowIso, toExample, toExecution, type ExampleRow, type ExecutionRow } from "./rows";
import { getTask } from "./tasks";
import type { Example, Execution, ExecutionPath, Page, PageArgs, Task } from "./types";
import { executeTaskSchema, parseInput } from "./validation";

export type ExecuteTaskInput = z.input<typeof executeTaskSchema>;

/** How many of a task's examples the baseline shows the LLM (the oldest first: stable prompts). */
export const BASELINE_DEMONSTRATIONS = 50;
const HISTORY_MESSAGES = 20;

export async function getExecution(deps: Deps, id: string): Promise<Execution> {
  const row = await deps.db
    .prepare("SELECT * FROM executions WHERE id = ? AND account_id = ?")
    .bind(id, deps.accountId)
    .first<ExecutionRow>();
  if (!row) throw notFound("Execution", id);
  return toExecution(row);
}

export async function listExecutions(deps: Deps, taskId: string, page: PageArgs = {}): Promise<Page<Execution>> {
  await getTask(deps, taskId);
  return listPage<ExecutionRow, Execution>(
    deps.db,
    { table: "executions", where: "account_id = ? AND task_id = ?", params: [deps.accountId, taskId], map: toExecution },
    page,
  );
}

async function baselineDemonstrations(deps: Deps, taskId: string): Promise<Example[]> {
  const { results } = await deps.db
    .prepare("SELECT * FROM examples WHERE account_id = ? AND task_id = ? ORDER BY created_at, id LIMIT ?")
    .bind(deps.accountId, taskId, BASELINE_DEMONSTRATIONS)
    .all<ExampleRow>();
  return results.map(toExample);
}

interface Route {
  path: ExecutionPath;
  reason: string;
  callLlm: boolean;
}

const NO_PREDICTION_REASON: Record<NoPrediction["none"], string> = {
  no_active_model: "no active model version: in-context LLM baseline",
  no_examples: "the task has no labelled example yet: in-context LLM baseline",
};

/**
 * The path an execution takes. Only what truly needs the LLM calls it: without an LLM configured, a
 * classification task still answers with the model's prediction, and the reason says so.
 */
function chooseRoute(task: Task, outcome: Prediction | NoPrediction, llmConfigured: boolean): Route {
  if (!isPrediction(outcome)) return { path: "llm_baseline", reason: NO_PREDICTION_REASON[outcome.none], callLlm: true };
  if (task.kind === "generation") {
    return { path: "model+llm", reason: "generation task: the LLM writes the answer guided by the prediction", callLlm: true };
  }
  const confidence = `confidence ${outcome.confidence.toFixed(3)}`;
  if (outcome.confidence >= task.confidenceThreshold) {
    return { path: "model", reason: `${confidence} >= threshold ${task.confidenceThreshold}`, callLlm: false };
  }
  if (!llmConfigured) {
    return {
      path: "model",
      reason: `${confidence} < threshold ${task.confidenceThreshold} and no LLM is configured: the model's prediction answers`,
      callLlm: false,
    };
  }
  return { path: "model+llm", reason: `${confidence} < threshold ${task.confidenceThreshold}`, callLlm: true };
}

/** For a classification answer from the LLM, the task label it names (case-insensitive), if any. */
function matchLabel(task: Task, output: string): string | null {
  const wanted = output.trim().replace(/^["'`]|["'`.]$/g, "").toLowerCase();
  return task.labels.find((l) => l.toLowerCase() === wanted) ?? null;
}

/** The model seam's signature; executeTask takes it as a parameter so each route can be exercised. */
export type Predictor = (deps: Deps, taskId: string, input: string) => Promise<Prediction | NoPrediction>;

/** `executionId`: the id to store the Execution under (a webhook delivery picks it on arrival). */
export interface ExecuteOptions {
  executionId?: string;
}

export async function executeTask(
  deps: Deps,
  input: ExecuteTaskInput,
  predict: Predictor = predictForTask,
  options: ExecuteOptions = {},
): Promise<Execution> {
  const started = performance.now();
  const data = parseInput(executeTaskSchema, input);
  const task = await getTask(deps, data.taskId);
  const agent = await getAgent(deps, task.agentId);
  let conversationId = data.conversationId ?? null;
  let isNewConversation = false;
  if (conversationId) {
    const conversation = await getConversation(deps, conversationId);
    if (conversation.taskId !== task.id) {
      throw validationFailed([{ path: "conversationId", message: "the conversation belongs to another task" }]);
    }
  } else {
    conversationId = newId();
    isNewConversation = true;
  }
  const history = isNewConversation ? [] : await recentMessages(deps, conversationId, HISTORY_MESSAGES);

  let outcome: Prediction | NoPrediction;
  let route: Route;
  try {
    outcome = await predict(deps, task.id, data.input);
    route = chooseRoute(task, outcome, isLlmConfigured(deps.env as LlmEnv));
  } catch (error) {
    // The model runtime failing must not take executions down: the baseline still answers, and says why.
    const code = error instanceof AppError ? error.code : "internal error";
    console.warn(JSON.stringify({ event: "predict_failed", taskId: task.id, code }));
    outcome = { none: "no_active_model" };
    route = { path: "llm_baseline", reason: `the model failed (${code}): in-context LLM baseline`, callLlm: true };
  }
  const prediction = isPrediction(outcome) ? outcome : null;

  let output: string | null = null;
  let llm: LlmResult | null = null;
  let failure: AppError | null = null;
  if (route.callLlm) {
    const demonstrations = prediction
      ? await getExamplesByIds(deps, prediction.demonstrations.map((d) => d.exampleId))
      : await baselineDemonstrations(deps, task.id);
    const messages = executionMessages({ agent, task, demonstrations, history, input: data.input, prediction });
    try {
      llm = await chatComplete(deps.env as LlmEnv, agent, messages);
      output = llm.content;
    } catch (error) {
      if (!(error instanceof AppError)) throw error;
      failure = error;
    }
  } else {
    output = prediction!.label;
  }

  const executionId = options.executionId ?? newId();
  const predictedLabel = prediction?.label ?? (output && task.kind === "classification" ? matchLabel(task, output) : null);
  const now = nowIso();
  const statements: D1PreparedStatement[] = [];
  if (isNewConversation) {
    statements.push(
      deps.db
        .prepare("INSERT INTO conversations (id, account_id, task_id, created_at, updated_at) VALUES (?, ?, ?, ?, ?)")
        .bind(conversationId, deps.accountId, task.id, now, now),
    );
  } else if (!failure) {
    statements.push(deps.db.prepare("UPDATE conversations SET updated_at = ? WHERE id = ?").bind(now, conversationId));
  }
  // The row as stored, built once: bound into the INSERT and returned as the Execution (no read-back).
  const row: ExecutionRow = {
    id: executionId, account_id: deps.accountId, task_id: task.id, conversation_id: conversationId, input: data.input,
    output, status: failure ? "failed" : "succeeded", error_code: failure?.code ?? null, path: route.path,
    path_reason: route.reason, predicted_label: predictedLabel, confidence: prediction?.confidence ?? null,
    scores_json: JSON.stringify(prediction?.scores ?? []), demonstrations_json: JSON.stringify(prediction?.demonstrations ?? []),
    adaptation_id: prediction?.adaptationId || null, model_version: prediction?.modelVersion ?? null,
    llm_model: llm?.model ?? null, prompt_tokens: llm?.promptTokens ?? null, completion_tokens: llm?.completionTokens ?? null,
    latency_ms: performance.now() - started, created_at: now,
  };
  const columns = Object.keys(row) as (keyof ExecutionRow)[];
  statements.push(
    deps.db
      .prepare(`INSERT INTO executions (${columns.join(", ")}) VALUES (${placeholders(columns.length)})`)
      .bind(...columns.map((c) => row[c])),
  );
  if (!failure) {
    // Explicit timestamps keep the turn's order (user before assistant) within one millisecond.
    const insertMessage = deps.db.prepare(
      "INSERT INTO messages (id, conversation_id, role, content, execution_id, created_at) VALUES (?, ?, ?, ?, ?, ?)",
    );
    statements.push(
      insertMessage.bind(newId(), conversationId, "user", data.input, executionId, now),
      insertMessage.bind(newId(), conversationId, "assistant", output ?? "", executionId, nowIso(1)),
    );
  }
  // The task (or the conversation) may have been deleted while this execution ran: nothing is written then.
  await writeBatch(deps.db, statements, () => notFound("Task", task.id));
  if (failure) throw failure.forExecution(executionId); // the caller can read the failed Execution back
  return toExecution(row);
}
