// Conversation: the multi-turn context of a task's executions; each successful turn adds a user and
// an assistant Message.
import { getConversation, listConversations, listMessages } from "../functions/conversations";
import { builder, QUERY_COST } from "./builder";
import { loadTask } from "./load";
import { childPage, forwardPageArgs, pageArgs, toConnection } from "./page";
import { ConversationConnection, ConversationRef, ExecutionRef, MessageConnection, MessageRef, TaskRef } from "./refs";

const MessageRoleEnum = builder.enumType("MessageRole", { values: ["user", "assistant"] as const });

builder.objectType(MessageRef, {
  fields: (t) => ({
    id: t.exposeID("id"),
    role: t.field({ type: MessageRoleEnum, resolve: (m) => m.role }),
    content: t.exposeString("content", { complexity: QUERY_COST.longText }),
    execution: t.field({
      type: ExecutionRef,
      nullable: true,
      description: "The Execution that produced this turn.",
      resolve: (m, _args, ctx) => (m.executionId ? ctx.loaders.execution.load(m.executionId) : null),
    }),
    createdAt: t.expose("createdAt", { type: "DateTime" }),
  }),
});

builder.objectType(ConversationRef, {
  description: "A multi-turn exchange with a Task: pass its id to executeTask to continue it.",
  fields: (t) => ({
    id: t.exposeID("id"),
    task: t.field({ type: TaskRef, resolve: (c, _args, ctx) => loadTask(ctx, c.taskId) }),
    messages: t.field({
      type: MessageConnection,
      description: "Oldest first.",
      args: forwardPageArgs(t.arg),
      resolve: async (c, args, ctx) =>
        toConnection(
          await childPage(
            args,
            (first) => ctx.loaders.firstPage("messagesOfConversation", first).load(c.id),
            (page) => listMessages(ctx.deps, c.id, page),
          ),
        ),
    }),
    createdAt: t.expose("createdAt", { type: "DateTime" }),
    updatedAt: t.expose("updatedAt", { type: "DateTime" }),
  }),
});

builder.objectField(TaskRef, "conversations", (t) =>
  t.field({
    type: ConversationConnection,
    args: forwardPageArgs(t.arg),
    resolve: async (task, args, ctx) =>
      toConnection(
        await childPage(
          args,
          (first) => ctx.loaders.firstPage("conversationsOfTask", first).load(task.id),
          (page) => listConversations(ctx.deps, task.id, page),
        ),
      ),
  }),
);

builder.queryFields((t) => ({
  conversation: t.field({
    type: ConversationRef,
    args: { id: t.arg.id({ required: true }) },
    resolve: (_root, { id }, ctx) => getConversation(ctx.deps, String(id)),
  }),
  conversations: t.field({
    type: ConversationConnection,
    args: { taskId: t.arg.id({ required: true }), ...forwardPageArgs(t.arg) },
    resolve: async (_root, { taskId, ...args }, ctx) =>
      toConnection(await listConversations(ctx.deps, String(taskId), pageArgs(args))),
  }),
}));
