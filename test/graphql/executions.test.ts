import { createExecutionContext } from "cloudflare:test";
import { env } from "cloudflare:workers";
import { describe, expect, it } from "vitest";
import { handleGraphQL } from "../../schema/yoga";
import { llmRequests, marker, newAccount, newTask, TEST_LLM_KEY, type TestAccount } from "../support/fixtures";
import { codes, gql, gqlOk, type GqlResult } from "./gql";

const EXECUTE = `mutation($taskId: ID!, $input: String!, $conversationId: ID) {
  executeTask(taskId: $taskId, input: $input, conversationId: $conversationId) {
    id input output status errorCode path pathReason predictedLabel confidence scores { label score }
    demonstrations { exampleId } llmModel promptTokens completionTokens latencyMs
    conversation { id messages { edges { node { role content execution { id } } } } } task { id }
  } }`;

interface ExecutionData {
  id: string; output: string | null; status: string; path: string; predictedLabel: string | null; llmModel: string | null;
  promptTokens: number | null; completionTokens: number | null; latencyMs: number;
  conversation: { id: string; messages: { edges: { node: { role: string; content: string; execution: { id: string } } }[] } };
}

/** The same GraphQL endpoint, in a Worker whose env lacks the LLM key (the no-LLM deployment). */
async function gqlWithoutLlm(account: TestAccount, query: string, variables: Record<string, unknown> = {}): Promise<GqlResult<Record<string, unknown>>> {
  const res = await handleGraphQL(
    new Request("http://local/graphql", { method: "POST", headers: account.headers, body: JSON.stringify({ query, variables }) }),
    { ...env, LLM_API_KEY: "" } as Env,
    createExecutionContext(),
    account.auth,
  );
  const text = await res.text();
  const body = JSON.parse(text) as { data?: Record<string, unknown> | null; errors?: GqlResult<unknown>["errors"] };
  return { status: res.status, data: body.data ?? null, errors: body.errors ?? [], text };
}

describe("GraphQL executions, conversations and feedback", () => {
  it("executes a task through the real LLM endpoint, continues the conversation, and records both turns", async () => {
    const a = await newAccount();
    const task = await newTask(a.deps, { agent: { llmModel: "echo" } });
    const first = marker("first");
    const one = (await gqlOk<{ executeTask: ExecutionData }>(a, EXECUTE, { taskId: task.id, input: first })).executeTask;
    // A classification task: the answer is the label the LLM names (the local one: the first offered, else the one the input names).
    expect(one).toMatchObject({ output: "positive", status: "succeeded", path: "llm_baseline", llmModel: "echo", promptTokens: 42, completionTokens: 7 });
    expect(one.latencyMs).toBeGreaterThanOrEqual(0);
    expect(one.conversation.messages.edges.map((e) => [e.node.role, e.node.content])).toEqual([["user", first], ["assistant", "positive"]]);

    const second = marker("second-negative");
    const two = (await gqlOk<{ executeTask: ExecutionData }>(a, EXECUTE, { taskId: task.id, input: second, conversationId: one.conversation.id })).executeTask;
    expect(two.conversation.id).toBe(one.conversation.id);
    expect(two.conversation.messages.edges.map((e) => e.node.content)).toEqual([first, "positive", second, "negative"]);
    expect(two.conversation.messages.edges[3]!.node.execution.id).toBe(two.id);

    // The LLM saw the task's examples as demonstrations and the first turn as history, with the Worker's key.
    const [sent] = await llmRequests(second);
    expect(sent?.authorization).toBe(`Bearer ${TEST_LLM_KEY}`);
    const contents = sent!.body.messages!.map((m) => m.content);
    expect(contents).toContain("I love this product");
    expect(contents).toContain(first);

    const listed = await gqlOk<{ executions: { edges: { node: { id: string } }[] }; task: { executions: { edges: { node: { id: string } }[] }; conversations: { edges: { node: { id: string } }[] } } }>(
      a,
      `query($taskId: ID!) { executions(taskId: $taskId) { edges { node { id } } }
        task(id: $taskId) { executions { edges { node { id } } } conversations { edges { node { id } } } } }`,
      { taskId: task.id },
    );
    expect(listed.executions.edges.map((e) => e.node.id)).toEqual([one.id, two.id]);
    expect(listed.task.executions.edges.map((e) => e.node.id)).toEqual([one.id, two.id]);
    expect(listed.task.conversations.edges.map((e) => e.node.id)).toEqual([one.conversation.id]);
    const { conversation } = await gqlOk<{ conversation: { task: { id: string } } }>(a, `query($id: ID!) { conversation(id: $id) { task { id } } }`, { id: one.conversation.id });
    expect(conversation.task.id).toBe(task.id);
  });

  it("stores a failed Execution and answers LLM_UNAVAILABLE when the LLM fails", async () => {
    const a = await newAccount();
    const task = await newTask(a.deps, { agent: { llmModel: "error-500" } });
    const result = await gql(a, EXECUTE, { taskId: task.id, input: marker() });
    expect(codes(result)).toEqual(["LLM_UNAVAILABLE"]);
    expect(result.text).not.toContain("upstream exploded"); // the provider's body stays out of responses
    const { executions } = await gqlOk<{ executions: { edges: { node: { id: string; status: string; errorCode: string; output: null } }[] } }>(
      a, `query($taskId: ID!) { executions(taskId: $taskId) { edges { node { id status errorCode output } } } }`, { taskId: task.id },
    );
    const failed = executions.edges.map((e) => e.node);
    expect(failed).toEqual([{ id: expect.any(String), status: "failed", errorCode: "LLM_UNAVAILABLE", output: null }]);
    // the error names the failed Execution it was stored as
    expect(result.errors[0]?.extensions?.executionId).toBe(failed[0]!.id);
  });

  it("says plainly when no LLM is configured, and still serves everything else", async () => {
    const a = await newAccount();
    const task = await newTask(a.deps);
    const status = await gqlWithoutLlm(a, `query($id: ID!) { llm { configured message } task(id: $id) { name agent { llm { configured message } } } }`, { id: task.id });
    expect(status.errors).toEqual([]);
    expect(status.data).toMatchObject({
      llm: { configured: false },
      task: { name: "Sentiment", agent: { llm: { configured: false } } },
    });
    expect(JSON.stringify(status.data)).toContain("No LLM is configured");

    const exec = await gqlWithoutLlm(a, EXECUTE, { taskId: task.id, input: "hello" });
    expect(codes(exec)).toEqual(["LLM_NOT_CONFIGURED"]);
    const drafted = await gqlWithoutLlm(a, `mutation($agentId: ID!) { createTaskFromRequest(input: { agentId: $agentId, request: "x" }) { id } }`, { agentId: task.agentId });
    expect(codes(drafted)).toEqual(["LLM_NOT_CONFIGURED"]);
  });

  it("takes feedback: a correction becomes an example; ratings are validated", async () => {
    const a = await newAccount();
    const task = await newTask(a.deps, { agent: { llmModel: "label:positive" } });
    const exec = (await gqlOk<{ executeTask: ExecutionData }>(a, EXECUTE, { taskId: task.id, input: "Not great, honestly" })).executeTask;
    expect(exec.output).toBe("positive");
    expect(exec.predictedLabel).toBe("positive");

    const submit = `mutation($input: SubmitFeedbackInput!) { submitFeedback(input: $input) {
      id rating correctedLabel comment exportedAt example { input label source } execution { id } task { id } } }`;
    const { submitFeedback } = await gqlOk<{ submitFeedback: { id: string; rating: number; example: { input: string; label: string; source: string } } }>(
      a, submit, { input: { executionId: exec.id, rating: -1, correctedLabel: "negative", comment: "wrong" } },
    );
    expect(submitFeedback).toMatchObject({ rating: -1, example: { input: "Not great, honestly", label: "negative", source: "feedback" } });

    const read = await gqlOk<{ execution: { feedback: { id: string }[] }; feedback: { id: string }; feedbackList: { edges: { node: { id: string } }[] }; task: { feedback: { edges: unknown[] } } }>(
      a,
      `query($e: ID!, $f: ID!, $t: ID!) { execution(id: $e) { feedback { id } } feedback(id: $f) { id }
        feedbackList(taskId: $t) { edges { node { id } } } task(id: $t) { feedback { edges { cursor } } } }`,
      { e: exec.id, f: submitFeedback.id, t: task.id },
    );
    expect(read.execution.feedback.map((f) => f.id)).toEqual([submitFeedback.id]);
    expect(read.feedbackList.edges.map((e) => e.node.id)).toEqual([submitFeedback.id]);
    expect(read.task.feedback.edges).toHaveLength(1);

    const badRating = await gql(a, submit, { input: { executionId: exec.id, rating: 5 } });
    expect(codes(badRating)).toEqual(["VALIDATION_FAILED"]);
    expect(badRating.errors[0]?.extensions?.issues?.[0]?.path).toBe("rating");
    const badLabel = await gql(a, submit, { input: { executionId: exec.id, correctedLabel: "meh" } });
    expect(codes(badLabel)).toEqual(["VALIDATION_FAILED"]);
    const empty = await gql(a, submit, { input: { executionId: exec.id } });
    expect(codes(empty)).toEqual(["VALIDATION_FAILED"]);
  });

  it("keeps executions, conversations and feedback inside their account", async () => {
    const a = await newAccount();
    const b = await newAccount();
    const task = await newTask(a.deps);
    const exec = (await gqlOk<{ executeTask: ExecutionData }>(a, EXECUTE, { taskId: task.id, input: "hi" })).executeTask;
    for (const [query, vars] of [
      [EXECUTE, { taskId: task.id, input: "from B" }],
      [`query($id: ID!) { execution(id: $id) { id } }`, { id: exec.id }],
      [`query($id: ID!) { executions(taskId: $id) { edges { cursor } } }`, { id: task.id }],
      [`query($id: ID!) { conversation(id: $id) { id } }`, { id: exec.conversation.id }],
      [`query($id: ID!) { conversations(taskId: $id) { edges { cursor } } }`, { id: task.id }],
      [`query($id: ID!) { feedbackList(taskId: $id) { edges { cursor } } }`, { id: task.id }],
      [`mutation($id: ID!) { submitFeedback(input: { executionId: $id, rating: 1 }) { id } }`, { id: exec.id }],
    ] as const) {
      expect(codes(await gql(b, query, vars)), query).toEqual(["NOT_FOUND"]);
    }
    // B's own task cannot continue A's conversation either.
    const bTask = await newTask(b.deps);
    expect(codes(await gql(b, EXECUTE, { taskId: bTask.id, input: "x", conversationId: exec.conversation.id }))).toEqual(["NOT_FOUND"]);
  });
});
