// Parent lookups for nested fields (execution.task, feedback.execution, …) through the request's
// batched loaders. A parent always exists (foreign keys cascade), so a miss is reported, not hidden.
import { notFound } from "../functions/errors";
import type { Agent, Conversation, Execution, Task } from "../functions/types";
import type { Context } from "./builder";

async function must<T>(value: Promise<T | null>, what: string, id: string): Promise<T> {
  const found = await value;
  if (!found) throw notFound(what, id);
  return found;
}

export const loadAgent = (ctx: Context, id: string): Promise<Agent> => must(ctx.loaders.agent.load(id), "Agent", id);
export const loadTask = (ctx: Context, id: string): Promise<Task> => must(ctx.loaders.task.load(id), "Task", id);
export const loadExecution = (ctx: Context, id: string): Promise<Execution> =>
  must(ctx.loaders.execution.load(id), "Execution", id);
export const loadConversation = (ctx: Context, id: string): Promise<Conversation> =>
  must(ctx.loaders.conversation.load(id), "Conversation", id);
