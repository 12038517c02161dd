// Account isolation (B can neither read nor change A's data, through every function) and the cascade
// when an agent is deleted (D1 enforces the ON DELETE CASCADE foreign keys: nothing is left behind).
import { env } from "cloudflare:workers";
import { describe, expect, it } from "vitest";
import { deleteAgent, getAgent, listAgents, updateAgent } from "../../functions/agents";
import { getConversation, listConversations, listMessages } from "../../functions/conversations";
import { AppError } from "../../functions/errors";
import { listExamples, removeExample } from "../../functions/examples";
import { executeTask, getExecution, listExecutions } from "../../functions/executions";
import { listFeedback, submitFeedback } from "../../functions/feedback";
import { deleteTask, getTask, listTasks } from "../../functions/tasks";
import { addExamples, createTask, updateTask } from "../../functions/taskSetup";
import { newAccount, newTask } from "../support/fixtures";

const code = async (p: Promise<unknown>) => p.then(() => "OK", (e: unknown) => (e instanceof AppError ? e.code : String(e)));

async function populated() {
  const account = await newAccount();
  const task = await newTask(account.deps);
  const execution = await executeTask(account.deps, { taskId: task.id, input: "private message" });
  const feedback = await submitFeedback(account.deps, { executionId: execution.id, correctedLabel: "negative" });
  const example = (await listExamples(account.deps, task.id)).nodes[0]!;
  return { ...account, task, execution, feedback, example };
}

describe("account isolation", () => {
  it("account B sees none of A's rows and cannot change them", async () => {
    const a = await populated();
    const b = await newAccount();
    const d = b.deps;
    const notFound = [
      getAgent(d, a.task.agentId), updateAgent(d, a.task.agentId, { name: "pwned" }), deleteAgent(d, a.task.agentId),
      getTask(d, a.task.id), updateTask(d, a.task.id, { name: "pwned" }), deleteTask(d, a.task.id),
      createTask(d, { agentId: a.task.agentId, name: "into A's agent" }), listTasks(d, { agentId: a.task.agentId }),
      addExamples(d, a.task.id, [{ input: "x", label: "positive" }]), removeExample(d, a.example.id), listExamples(d, a.task.id),
      executeTask(d, { taskId: a.task.id, input: "x" }), getExecution(d, a.execution.id), listExecutions(d, a.task.id),
      getConversation(d, a.execution.conversationId!), listConversations(d, a.task.id), listMessages(d, a.execution.conversationId!),
      submitFeedback(d, { executionId: a.execution.id, rating: -1 }), listFeedback(d, a.task.id),
    ];
    expect(await Promise.all(notFound.map(code))).toEqual(notFound.map(() => "NOT_FOUND"));
    expect((await listAgents(d)).nodes).toEqual([]);
    expect((await listTasks(d)).nodes).toEqual([]);
    // and A's data is untouched
    expect((await getTask(a.deps, a.task.id)).name).toBe("Sentiment");
    expect((await listExamples(a.deps, a.task.id)).nodes).toHaveLength(5);
    expect((await listFeedback(a.deps, a.task.id)).nodes).toHaveLength(1);
  });

  it("B cannot continue A's conversation from its own task", async () => {
    const a = await populated();
    const b = await newAccount();
    const taskOfB = await newTask(b.deps);
    expect(await code(executeTask(b.deps, { taskId: taskOfB.id, input: "x", conversationId: a.execution.conversationId }))).toBe("NOT_FOUND");
  });
});

describe("deleting an agent", () => {
  it("cascades through tasks, examples, executions, conversations, messages, feedback and adaptations", async () => {
    const a = await populated();
    const keep = await newTask(a.deps); // another agent of the same account stays whole
    const modelVersion = `t-${crypto.randomUUID().slice(0, 8)}`;
    await env.DB.batch([
      env.DB.prepare("INSERT INTO model_versions (version, r2_prefix, manifest_sha256, algorithm, encoder) VALUES (?, ?, ?, 'protonet', 'test')")
        .bind(modelVersion, `models/${modelVersion}/`, "0".repeat(64)),
      env.DB.prepare(
        `INSERT INTO adaptations (id, account_id, task_id, model_version, algorithm, steps, support_size, labels_json, duration_ms, support_fingerprint)
         VALUES (?, ?, ?, ?, 'protonet', 0, 4, '[]', 1, 'fp')`,
      ).bind(crypto.randomUUID(), a.accountId, a.task.id, modelVersion),
    ]);
    const counts = async () => {
      const row = await env.DB.prepare(
        `SELECT (SELECT COUNT(*) FROM tasks WHERE account_id = ?1) AS tasks,
                (SELECT COUNT(*) FROM examples WHERE account_id = ?1) AS examples,
                (SELECT COUNT(*) FROM executions WHERE account_id = ?1) AS executions,
                (SELECT COUNT(*) FROM conversations WHERE account_id = ?1) AS conversations,
                (SELECT COUNT(*) FROM messages WHERE conversation_id = ?2) AS messages,
                (SELECT COUNT(*) FROM feedback WHERE account_id = ?1) AS feedback,
                (SELECT COUNT(*) FROM adaptations WHERE account_id = ?1) AS adaptations`,
      ).bind(a.accountId, a.execution.conversationId).first();
      return row;
    };
    expect(await counts()).toEqual({ tasks: 2, examples: 9, executions: 1, conversations: 1, messages: 2, feedback: 1, adaptations: 1 });
    await deleteAgent(a.deps, a.task.agentId);
    expect(await counts()).toEqual({ tasks: 1, examples: 4, executions: 0, conversations: 0, messages: 0, feedback: 0, adaptations: 0 });
    expect((await getTask(a.deps, keep.id)).id).toBe(keep.id);
    const orphans = await env.DB.prepare("PRAGMA foreign_key_check").all();
    expect(orphans.results).toEqual([]);
  });
});
