// Executing a task. The route through it depends on the meta-learned model (functions/predictions.ts):
// - no prediction (no active model version, or no labelled example yet): the in-context LLM baseline,
//   path 'llm_baseline';
// - a classification task answered confidently, or with no LLM configured: the predicted label is the
//   answer, path 'model', no LLM call;
// - otherwise the LLM answers guided by the prediction and retrieved demonstrations, path 'model+llm'.
// A classification answer from the LLM is one of the task's labels or none, never its free text
// (functions/llmLabels.ts).
// This module owns the `executions` table. An execution makes one D1 read batch (the task, its agent,
// the active model version, and the conversation with its recent messages when it continues one) and
// one write batch (the Execution with its conversation turn) — and none of the reads when it starts a
// conversation on a task this isolate has executed: it answers from what it remembers, and its write
// batch is guarded so that it writes nothing unless those rows are still current (a change seen there
// sends it back to a fresh read; with an LLM call, that call is made again). The support set and the
// adapted head come from the isolate's caches when warm (functions/predictions.ts). The Execution returned is the row
// written, not read back. An LLM failure stores a failed Execution and rethrows the typed error with
// its executionId.
import { chunked, guardStatement, isGuardFailure, placeholders, rowsByIds, writeBatch } from "./d1";
import { newId } from "./ids";
import type { z } from "zod";
import { agentOfRow, agentStatement, agentUnchanged } from "./agents";
import {
  conversationOfRow, conversationStatement, insertConversationStatement, insertTurnStatements, recentMessagesStatement,
  touchConversationStatement,
} from "./conversations";
import type { Deps } from "./deps";
import { AppError, notFound, validationFailed } from "./errors";
import { getExamplesByIds, oldestExamples, storedLabels } from "./examples";
import { chatComplete, isLlmConfigured, type LlmEnv, type LlmResult } from "./llm";
import { completeLabel } from "./llmLabels";
import type { ActiveRow } from "./model/loader";
import { isPrediction, type NoPrediction, type Prediction } from "./model/index";
import type { Support } from "./model/support";
import { activeVersionIs, activeVersionStatement } from "./modelVersions";
import { firstPages, listPage, type ChildList } from "./pagination";
import { predictWithSupport, type PrefetchedForPrediction } from "./predictions";
import { executionMessages, type Demonstrated } from "./prompts";
import { nowIso, toExecution, toMessage, type AgentRow, type ConversationRow, type ExecutionRow, type MessageRow, type TaskRow } from "./rows";
import { getTask, taskOfRow, taskStatement, taskUnchanged } from "./tasks";
import type { Agent, Execution, ExecutionPath, Message, Page, PageArgs, Task } from "./types";
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

/** Many executions by id, in the callers' order (null: not this account's), for GraphQL's loaders. */
export const executionsByIds = (deps: Deps, ids: readonly string[]) => rowsByIds(deps.db, "executions", deps.accountId, ids, toExecution);

const EXECUTIONS_OF_TASK: ChildList<ExecutionRow, Execution> = { table: "executions", parentColumn: "task_id", map: toExecution };

/** The first page of executions of each task (one batch), for GraphQL's loaders. */
export const firstExecutionsOfTasks = (deps: Deps, taskIds: readonly string[], first: number) =>
  firstPages(deps.db, EXECUTIONS_OF_TASK, deps.accountId, taskIds, first);

/** What the feedback export needs of these executions, across accounts. */
export async function executionsForExport(db: D1Database, ids: readonly string[]): Promise<Map<string, ExecutionRow>> {
  if (ids.length === 0) return new Map();
  const pages = await db.batch<ExecutionRow>(
    chunked(ids).map((chunk) => db.prepare(`SELECT * FROM executions WHERE id IN (${placeholders(chunk.length)})`).bind(...chunk)),
  );
  return new Map(pages.flatMap((p) => p.results).map((r) => [r.id, r]));
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

/**
 * The model seam's signature; executeTask takes it as a parameter so each route can be exercised. The
 * support set it returns (when it searched one) gives the demonstrations' texts without a read.
 */
export type Predictor = (
  deps: Deps,
  taskId: string,
  input: string,
  prefetched: PrefetchedForPrediction,
) => Promise<{ outcome: Prediction | NoPrediction; support?: Support | null }>;

/** `executionId`: the id to store the Execution under (a webhook delivery picks it on arrival). */
export interface ExecuteOptions {
  executionId?: string;
}

// What this isolate remembers of a task it has executed: the task, its agent and the active model version,
// with the versions they were read at. An execute that starts a conversation answers from them without
// reading D1, and its write batch begins with a guard that aborts it unless they are all still current
// (the task's and agent's row versions, the task's examples_version, the active version); an aborted
// batch wrote nothing, and the execute starts again from a fresh read. So a change made through any
// isolate is seen by the next execute here, at no read when nothing changed. Bounded like the model caches.
const MAX_REMEMBERED_TASKS = 4096;
const remembered = new Map<string, Remembered>(); // key: account/task

interface ExecutionContext {
  task: Task;
  agent: Agent;
  active: ActiveRow | null;
  examplesVersion: number;
  history: Message[];
}

interface Remembered extends ExecutionContext {
  taskVersion: number;
  agentVersion: number;
}

function remember(key: string, context: Remembered): void {
  remembered.delete(key);
  remembered.set(key, context);
  if (remembered.size > MAX_REMEMBERED_TASKS) remembered.delete(remembered.keys().next().value!);
}

/** The guard a write answered from `context` starts with: every row it used is still at its version. */
const stillCurrent = (deps: Deps, context: Remembered) =>
  guardStatement(deps.db, [
    taskUnchanged(deps, context.task.id, context.taskVersion, context.examplesVersion),
    agentUnchanged(deps, context.agent.id, context.agentVersion),
    activeVersionIs(deps.accountId, context.active?.version ?? null),
  ]);

/**
 * Everything an execution reads, in one D1 batch (two, the first time this isolate sees the task: the
 * agent's id comes with the task's row; a task's agent never changes, so a remembered one, even stale,
 * names it). Remembered for the next execute of the task when it starts a conversation (a continued one
 * needs its history read anyway).
 */
async function readContext(
  deps: Deps,
  taskId: string,
  conversationId: string | null,
  knownAgent = remembered.get(`${deps.accountId}/${taskId}`)?.agent.id,
): Promise<ExecutionContext> {
  const key = `${deps.accountId}/${taskId}`;
  const statements = [taskStatement(deps, taskId), activeVersionStatement(deps.db, deps.accountId)];
  if (knownAgent) statements.push(agentStatement(deps, knownAgent));
  if (conversationId) statements.push(conversationStatement(deps, conversationId), recentMessagesStatement(deps, conversationId, HISTORY_MESSAGES));
  const results = await deps.db.batch(statements);
  const first = <Row>(i: number) => results[i]?.results[0] as Row | undefined;
  const { task, examplesVersion, version: taskVersion } = taskOfRow(first<TaskRow>(0), taskId);
  const active = first<ActiveRow>(1) ?? null;
  let next = 2;
  let agentRow = knownAgent ? first<AgentRow>(next++) : undefined;
  let history: Message[] = [];
  if (conversationId) {
    const conversation = conversationOfRow(first<ConversationRow>(next++), conversationId);
    if (conversation.taskId !== task.id) {
      throw validationFailed([{ path: "conversationId", message: "the conversation belongs to another task" }]);
    }
    history = ((results[next++]?.results ?? []) as MessageRow[]).map(toMessage);
  }
  if (!agentRow || agentRow.id !== task.agentId) {
    agentRow = (await agentStatement(deps, task.agentId).first<AgentRow>()) ?? undefined;
  }
  const agent = agentOfRow(agentRow, task.agentId);
  remember(key, { task, agent, active, examplesVersion, history: [], taskVersion, agentVersion: agentRow!.version });
  return { task, agent, active, examplesVersion, history };
}

/** What the reason adds about the prediction's inputs: a cut input, examples not featurised yet. */
function predictionNotes(p: Prediction): string {
  const notes: string[] = [];
  if (p.truncated) notes.push("the input was truncated to the encoder's token limit");
  if ((p.pendingExamples ?? 0) > 0) notes.push(`${p.pendingExamples} of the task's examples are still being featurised and were not used`);
  return notes.length ? `; ${notes.join("; ")}` : "";
}

/** The demonstrations' texts: from the support set the prediction searched, else read. */
async function demonstrationsFor(deps: Deps, task: Task, prediction: Prediction | null, support: Support | null | undefined): Promise<Demonstrated[]> {
  if (!prediction) return oldestExamples(deps, task.id, BASELINE_DEMONSTRATIONS);
  const ids = prediction.demonstrations.map((d) => d.exampleId);
  if (support) {
    const row = new Map(support.ids.map((id, i) => [id, i]));
    if (ids.every((id) => row.has(id))) {
      return ids.map((id) => {
        const i = row.get(id)!;
        return { input: support.inputs[i]!, label: support.labels[i] ?? null, output: support.outputs[i] ?? null };
      });
    }
  }
  return getExamplesByIds(deps, ids);
}

export async function executeTask(
  deps: Deps,
  input: ExecuteTaskInput,
  predict: Predictor = predictWithSupport,
  options: ExecuteOptions = {},
): Promise<Execution> {
  const data = parseInput(executeTaskSchema, input);
  const warm = data.conversationId ? undefined : remembered.get(`${deps.accountId}/${data.taskId}`);
  if (warm) {
    try {
      return await execute(deps, data, predict, options, { warm });
    } catch (error) {
      if (!isGuardFailure(error)) throw error;
      remembered.delete(`${deps.accountId}/${data.taskId}`); // something changed: nothing was written, read afresh
      return execute(deps, data, predict, options, { knownAgent: warm.agent.id });
    }
  }
  return execute(deps, data, predict, options);
}

/**
 * One execution: from `warm` with a write that aborts unless it is still current, or from a fresh read
 * (`knownAgent`: the task's agent, when a stale remembered context named it).
 */
async function execute(
  deps: Deps,
  data: z.output<typeof executeTaskSchema>,
  predict: Predictor,
  options: ExecuteOptions,
  from: { warm?: Remembered; knownAgent?: string } = {},
): Promise<Execution> {
  const started = performance.now();
  const { warm } = from;
  const isNewConversation = !data.conversationId;
  const conversationId = data.conversationId ?? newId();
  const { task, agent, active, examplesVersion, history } =
    warm ?? await readContext(deps, data.taskId, data.conversationId ?? null, from.knownAgent);

  let outcome: Prediction | NoPrediction;
  let support: Support | null | undefined;
  let route: Route;
  try {
    ({ outcome, support } = await predict(deps, task.id, data.input, { active, examplesVersion }));
    route = chooseRoute(task, outcome, isLlmConfigured(deps.env as LlmEnv));
  } catch (error) {
    // The model runtime failing must not take executions down: the baseline still answers, and says why.
    const code = error instanceof AppError ? error.code : "internal error";
    console.warn(JSON.stringify({ event: "predict_failed", taskId: task.id, code }));
    outcome = { none: "no_active_model" };
    route = { path: "llm_baseline", reason: `the model failed (${code}): in-context LLM baseline`, callLlm: true };
  }
  const prediction = isPrediction(outcome) ? outcome : null;
  if (prediction) route = { ...route, reason: route.reason + predictionNotes(prediction) };

  let output: string | null = null;
  let llm: LlmResult | null = null;
  let failure: AppError | null = null;
  if (route.callLlm) {
    const demonstrations = await demonstrationsFor(deps, task, prediction, support);
    const messages = executionMessages({ agent, task, demonstrations, history, input: data.input, prediction });
    try {
      if (task.kind === "classification") {
        // A classification answer is one of the task's labels or none, never the LLM's free text.
        const labels = task.labels.length > 0 ? task.labels : prediction ? prediction.scores.map((s) => s.label) : await storedLabels(deps, task.id);
        if (labels.length === 0) {
          route = { ...route, reason: `${route.reason}; the task has no labels yet: no answer` };
        } else {
          const answer = await completeLabel(deps.env as LlmEnv, agent, messages, labels);
          llm = answer.llm;
          output = answer.label ?? prediction?.label ?? null;
          if (!answer.label) {
            route = {
              ...route,
              reason: `${route.reason}; the LLM named none of the task's labels (asked ${answer.attempts} times): ` +
                (prediction ? "the model's prediction answers" : "no label"),
            };
          }
        }
      } else {
        llm = await chatComplete(deps.env as LlmEnv, agent, messages);
        output = llm.content;
      }
    } catch (error) {
      if (!(error instanceof AppError)) throw error;
      failure = error;
    }
  } else {
    output = prediction!.label;
  }

  const executionId = options.executionId ?? newId();
  const predictedLabel = prediction?.label ?? (task.kind === "classification" ? output : null);
  const now = nowIso();
  const statements: D1PreparedStatement[] = warm ? [stillCurrent(deps, warm)] : [];
  if (isNewConversation) statements.push(insertConversationStatement(deps, conversationId, task.id, now));
  else if (!failure) statements.push(touchConversationStatement(deps, conversationId, now));
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
    statements.push(...insertTurnStatements(deps, conversationId, executionId, { input: data.input, output: output ?? "", at: now, answeredAt: nowIso(1) }));
  }
  // The task (or the conversation) may have been deleted while this execution ran: nothing is written then.
  await writeBatch(deps.db, statements, () => notFound("Task", task.id));
  if (failure) throw failure.forExecution(executionId); // the caller can read the failed Execution back
  return toExecution(row);
}

/** The inputs of an account's executions, newest first, at most `limit` (the account-texts snapshot). */
export async function accountExecutionInputs(db: D1Database, accountId: string, limit: number): Promise<string[]> {
  const { results } = await db
    .prepare("SELECT input FROM executions WHERE account_id = ? ORDER BY created_at DESC LIMIT ?")
    .bind(accountId, limit)
    .all<{ input: string }>();
  return results.map((r) => r.input);
}

/** Accounts with executions created at or after `since` (ISO), in random order, at most `limit`. */
export async function accountsWithExecutionsSince(db: D1Database, since: string, limit: number): Promise<string[]> {
  const { results } = await db
    .prepare("SELECT DISTINCT account_id FROM executions WHERE created_at >= ? ORDER BY RANDOM() LIMIT ?")
    .bind(since, limit)
    .all<{ account_id: string }>();
  return results.map((r) => r.account_id);
}
