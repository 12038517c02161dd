// Per-request DataLoaders, so a list query's nested fields cost one D1 query per field, not one per
// row (agents → tasks → examples…). Every query is scoped to the request's account, and loaders are
// created per request, so nothing cached ever crosses requests or accounts.
import DataLoader from "dataloader";
import type { Deps } from "../functions/deps";
import { encodeCursor } from "../functions/pagination";
import {
  toAdaptation, toAgent, toConversation, toExample, toExecution, toFeedback, toMessage, toModelVersion, toTask,
  type AdaptationRow, type AgentRow, type ConversationRow, type ExampleRow, type ExecutionRow, type FeedbackRow,
  type MessageRow, type ModelVersionRow, type TaskRow,
} from "../functions/rows";
import type { Adaptation, Agent, Conversation, Example, Execution, Feedback, Message, ModelVersion, Page, Task } from "../functions/types";
import { LIMITS } from "../functions/validation";

// D1 binds at most 100 parameters per statement; leave room for the account id and a limit.
const MAX_BATCH = 90;

const placeholders = (n: number) => Array.from({ length: n }, () => "?").join(", ");

function byIdLoader<Row extends { id: string }, T>(deps: Deps, table: string, map: (row: Row) => T) {
  return new DataLoader<string, T | null>(
    async (ids) => {
      const { results } = await deps.db
        .prepare(`SELECT * FROM ${table} WHERE account_id = ? AND id IN (${placeholders(ids.length)})`)
        .bind(deps.accountId, ...ids)
        .all<Row>();
      const byId = new Map(results.map((row) => [row.id, map(row)]));
      return ids.map((id) => byId.get(id) ?? null);
    },
    { maxBatchSize: MAX_BATCH },
  );
}

/** One child table listed under a parent column (e.g. examples.task_id), first page per parent. */
interface ChildList<Row, T> {
  table: string;
  parentColumn: string;
  map: (row: Row) => T;
  // messages carry no account_id: their conversation does.
  scope?: { join: string; accountColumn: string };
}

/**
 * The first page of children for many parents in one query (ROW_NUMBER per parent). A page that
 * continues from a cursor (`after`) belongs to one parent and goes through the domain's list function.
 */
function firstPageLoader<Row extends { id: string; created_at: string }, T>(deps: Deps, list: ChildList<Row, T>, first: number) {
  return new DataLoader<string, Page<T>>(
    async (parentIds) => {
      const account = list.scope ? list.scope.accountColumn : "account_id";
      const from = list.scope ? `${list.table} ${list.scope.join}` : list.table;
      const sql = `SELECT * FROM (
          SELECT ${list.table}.*, ROW_NUMBER() OVER (PARTITION BY ${list.table}.${list.parentColumn}
                 ORDER BY ${list.table}.created_at, ${list.table}.id) AS row_in_parent
          FROM ${from}
          WHERE ${account} = ? AND ${list.table}.${list.parentColumn} IN (${placeholders(parentIds.length)}))
        WHERE row_in_parent <= ? ORDER BY row_in_parent`;
      const { results } = await deps.db
        .prepare(sql)
        .bind(deps.accountId, ...parentIds, first + 1)
        .all<Row & Record<string, unknown>>();
      const grouped = new Map<string, (Row & Record<string, unknown>)[]>();
      for (const row of results) {
        const parent = String(row[list.parentColumn]);
        grouped.set(parent, [...(grouped.get(parent) ?? []), row]);
      }
      return parentIds.map((parentId) => {
        const rows = grouped.get(parentId) ?? [];
        const shown = rows.slice(0, first);
        const last = shown.at(-1);
        return {
          nodes: shown.map(list.map),
          endCursor: last ? encodeCursor(last.created_at, last.id) : null,
          hasNextPage: rows.length > first,
        };
      });
    },
    { maxBatchSize: MAX_BATCH },
  );
}

const CHILD_LISTS = {
  tasksOfAgent: { table: "tasks", parentColumn: "agent_id", map: toTask } as ChildList<TaskRow, Task>,
  examplesOfTask: { table: "examples", parentColumn: "task_id", map: toExample } as ChildList<ExampleRow, Example>,
  executionsOfTask: { table: "executions", parentColumn: "task_id", map: toExecution } as ChildList<ExecutionRow, Execution>,
  conversationsOfTask: { table: "conversations", parentColumn: "task_id", map: toConversation } as ChildList<ConversationRow, Conversation>,
  feedbackOfTask: { table: "feedback", parentColumn: "task_id", map: toFeedback } as ChildList<FeedbackRow, Feedback>,
  adaptationsOfTask: { table: "adaptations", parentColumn: "task_id", map: toAdaptation } as ChildList<AdaptationRow, Adaptation>,
  messagesOfConversation: {
    table: "messages",
    parentColumn: "conversation_id",
    map: toMessage,
    scope: { join: "JOIN conversations ON conversations.id = messages.conversation_id", accountColumn: "conversations.account_id" },
  } as ChildList<MessageRow, Message>,
};
type ChildListName = keyof typeof CHILD_LISTS;
type ChildOf<N extends ChildListName> = (typeof CHILD_LISTS)[N] extends ChildList<never, infer T> ? T : never;

export function createLoaders(deps: Deps) {
  const pageLoaders = new Map<string, DataLoader<string, Page<unknown>>>();
  return {
    agent: byIdLoader<AgentRow, Agent>(deps, "agents", toAgent),
    task: byIdLoader<TaskRow, Task>(deps, "tasks", toTask),
    example: byIdLoader<ExampleRow, Example>(deps, "examples", toExample),
    execution: byIdLoader<ExecutionRow, Execution>(deps, "executions", toExecution),
    conversation: byIdLoader<ConversationRow, Conversation>(deps, "conversations", toConversation),
    adaptation: byIdLoader<AdaptationRow, Adaptation>(deps, "adaptations", toAdaptation),
    /** The registry is global (not per account). */
    modelVersion: new DataLoader<string, ModelVersion | null>(
      async (versions) => {
        const { results } = await deps.db
          .prepare(`SELECT * FROM model_versions WHERE version IN (${placeholders(versions.length)})`)
          .bind(...versions)
          .all<ModelVersionRow>();
        const byVersion = new Map(results.map((row) => [row.version, toModelVersion(row)]));
        return versions.map((v) => byVersion.get(v) ?? null);
      },
      { maxBatchSize: MAX_BATCH },
    ),

    /** The newest Adaptation of each task (null: never adapted). */
    latestAdaptation: new DataLoader<string, Adaptation | null>(
      async (taskIds) => {
        const { results } = await deps.db
          .prepare(
            `SELECT * FROM (SELECT *, ROW_NUMBER() OVER (PARTITION BY task_id ORDER BY created_at DESC, id DESC) AS newest
               FROM adaptations WHERE account_id = ? AND task_id IN (${placeholders(taskIds.length)})) WHERE newest = 1`,
          )
          .bind(deps.accountId, ...taskIds)
          .all<AdaptationRow>();
        const byTask = new Map(results.map((row) => [row.task_id, toAdaptation(row)]));
        return taskIds.map((id) => byTask.get(id) ?? null);
      },
      { maxBatchSize: MAX_BATCH },
    ),

    /** All Feedback on each execution, oldest first (a handful per execution at most). */
    feedbackOfExecution: new DataLoader<string, Feedback[]>(
      async (executionIds) => {
        const { results } = await deps.db
          .prepare(
            `SELECT * FROM feedback WHERE account_id = ? AND execution_id IN (${placeholders(executionIds.length)})
             ORDER BY created_at, id LIMIT ?`,
          )
          .bind(deps.accountId, ...executionIds, LIMITS.pageSize * executionIds.length)
          .all<FeedbackRow>();
        return executionIds.map((id) => results.filter((row) => row.execution_id === id).map(toFeedback));
      },
      { maxBatchSize: MAX_BATCH },
    ),

    /** First pages of a child list, batched across parents; one loader per (list, page size). */
    firstPage<N extends ChildListName>(name: N, first: number): DataLoader<string, Page<ChildOf<N>>> {
      const key = `${name}:${first}`;
      let loader = pageLoaders.get(key);
      if (!loader) {
        loader = firstPageLoader(deps, CHILD_LISTS[name] as ChildList<never, unknown>, first);
        pageLoaders.set(key, loader);
      }
      return loader as DataLoader<string, Page<ChildOf<N>>>;
    },
  };
}

export type Loaders = ReturnType<typeof createLoaders>;
