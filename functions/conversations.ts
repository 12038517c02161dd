// Conversations: the multi-turn context of a task's executions. This module owns the `conversations`
// and `messages` tables (a message has no account of its own: its conversation's). Each successful
// execution adds two messages (user input, assistant output); executions.ts puts the statements built
// here into its one write batch.
import { newId } from "./ids";
import { rowsByIds } from "./d1";
import type { Deps } from "./deps";
import { notFound } from "./errors";
import { firstPages, listPage, type ChildList } from "./pagination";
import { toConversation, toMessage, type ConversationRow, type MessageRow } from "./rows";
import { getTask } from "./tasks";
import type { Conversation, Message, Page, PageArgs } from "./types";

/** The conversation's row, for callers that batch it with other reads (read it back with conversationOfRow). */
export const conversationStatement = (deps: Deps, id: string) =>
  deps.db.prepare("SELECT * FROM conversations WHERE id = ? AND account_id = ?").bind(id, deps.accountId);

export function conversationOfRow(row: ConversationRow | undefined, id: string): Conversation {
  if (!row) throw notFound("Conversation", id);
  return toConversation(row);
}

export async function getConversation(deps: Deps, id: string): Promise<Conversation> {
  return conversationOfRow((await conversationStatement(deps, id).first<ConversationRow>()) ?? undefined, id);
}

/** Many conversations by id, in the callers' order (null: not this account's), for GraphQL's loaders. */
export const conversationsByIds = (deps: Deps, ids: readonly string[]) =>
  rowsByIds(deps.db, "conversations", deps.accountId, ids, toConversation);

const CONVERSATIONS_OF_TASK: ChildList<ConversationRow, Conversation> = { table: "conversations", parentColumn: "task_id", map: toConversation };
const MESSAGES_OF_CONVERSATION: ChildList<MessageRow, Message> = {
  table: "messages",
  parentColumn: "conversation_id",
  map: toMessage,
  scope: { join: "JOIN conversations ON conversations.id = messages.conversation_id", accountColumn: "conversations.account_id" },
};

/** The first page of conversations of each task (one batch), for GraphQL's loaders. */
export const firstConversationsOfTasks = (deps: Deps, taskIds: readonly string[], first: number) =>
  firstPages(deps.db, CONVERSATIONS_OF_TASK, deps.accountId, taskIds, first);

/** The first page of messages of each conversation (one batch), for GraphQL's loaders. */
export const firstMessagesOfConversations = (deps: Deps, conversationIds: readonly string[], first: number) =>
  firstPages(deps.db, MESSAGES_OF_CONVERSATION, deps.accountId, conversationIds, first);

/** A new conversation of the task (in the batch of its first execution). */
export const insertConversationStatement = (deps: Deps, id: string, taskId: string, now: string) =>
  deps.db
    .prepare("INSERT INTO conversations (id, account_id, task_id, created_at, updated_at) VALUES (?, ?, ?, ?, ?)")
    .bind(id, deps.accountId, taskId, now, now);

export const touchConversationStatement = (deps: Deps, id: string, now: string) =>
  deps.db.prepare("UPDATE conversations SET updated_at = ? WHERE id = ? AND account_id = ?").bind(now, id, deps.accountId);

/**
 * The two messages of one turn. Explicit timestamps keep the turn's order (user before assistant)
 * within one millisecond.
 */
export function insertTurnStatements(
  deps: Deps,
  conversationId: string,
  executionId: string,
  turn: { input: string; output: string; at: string; answeredAt: string },
): D1PreparedStatement[] {
  const insert = deps.db.prepare(
    "INSERT INTO messages (id, conversation_id, role, content, execution_id, created_at) VALUES (?, ?, ?, ?, ?, ?)",
  );
  return [
    insert.bind(newId(), conversationId, "user", turn.input, executionId, turn.at),
    insert.bind(newId(), conversationId, "assistant", turn.output, executionId, turn.answeredAt),
  ];
}

export async function listConversations(deps: Deps, taskId: string, page: PageArgs = {}): Promise<Page<Conversation>> {
  await getTask(deps, taskId);
  return listPage<ConversationRow, Conversation>(
    deps.db,
    { table: "conversations", where: "account_id = ? AND task_id = ?", params: [deps.accountId, taskId], map: toConversation },
    page,
  );
}

export async function listMessages(deps: Deps, conversationId: string, page: PageArgs = {}): Promise<Page<Message>> {
  await getConversation(deps, conversationId); // the account check: messages carry no account_id
  return listPage<MessageRow, Message>(
    deps.db,
    { table: "messages", where: "conversation_id = ?", params: [conversationId], map: toMessage },
    page,
  );
}

/** The last `limit` messages, oldest first: the history an execution's prompt continues. */
export async function recentMessages(deps: Deps, conversationId: string, limit = 20): Promise<Message[]> {
  const { results } = await recentMessagesStatement(deps, conversationId, limit).all<MessageRow>();
  return results.map(toMessage);
}

/** recentMessages as a statement, for callers that batch it with other reads (rows map with toMessage). */
export const recentMessagesStatement = (deps: Deps, conversationId: string, limit: number) =>
  deps.db
    .prepare(
      `SELECT * FROM (SELECT m.* FROM messages m JOIN conversations c ON c.id = m.conversation_id
         WHERE m.conversation_id = ? AND c.account_id = ? ORDER BY m.created_at DESC, m.id DESC LIMIT ?)
       ORDER BY created_at, id`,
    )
    .bind(conversationId, deps.accountId, limit);
