// Conversations: the multi-turn context of a task's executions. Each successful execution adds two
// messages (user input, assistant output); they are written by executions.ts in its batch.
import type { Deps } from "./deps";
import { notFound } from "./errors";
import { listPage } from "./pagination";
import { toConversation, toMessage, type ConversationRow, type MessageRow } from "./rows";
import { getTask } from "./tasks";
import type { Conversation, Message, Page, PageArgs } from "./types";

export async function getConversation(deps: Deps, id: string): Promise<Conversation> {
  const row = await deps.db
    .prepare("SELECT * FROM conversations WHERE id = ? AND account_id = ?")
    .bind(id, deps.accountId)
    .first<ConversationRow>();
  if (!row) throw notFound("Conversation", id);
  return toConversation(row);
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
  const { results } = await deps.db
    .prepare(
      `SELECT * FROM (SELECT m.* FROM messages m JOIN conversations c ON c.id = m.conversation_id
         WHERE m.conversation_id = ? AND c.account_id = ? ORDER BY m.created_at DESC, m.id DESC LIMIT ?)
       ORDER BY created_at, id`,
    )
    .bind(conversationId, deps.accountId, limit)
    .all<MessageRow>();
  return results.map(toMessage);
}
