import { describe, expect, it } from "vitest";
import { marker, newAccount, SENTIMENT_EXAMPLES } from "../support/fixtures";
import { codes, gql, gqlOk } from "./gql";

const TASK = `id name description kind labels parameters confidenceThreshold sourceRequest agent { id name } createdAt updatedAt`;

async function agentFor(account: Awaited<ReturnType<typeof newAccount>>, llmModel?: string) {
  const { createAgent } = await gqlOk<{ createAgent: { id: string } }>(
    account,
    `mutation($input: CreateAgentInput!) { createAgent(input: $input) { id } }`,
    { input: { name: "Agent", ...(llmModel ? { llmModel } : {}) } },
  );
  return createAgent.id;
}

describe("GraphQL tasks and examples", () => {
  it("creates a task with examples in one call and reads it back with nested fields", async () => {
    const a = await newAccount();
    const agentId = await agentFor(a);
    const { createTask } = await gqlOk<{ createTask: { id: string; kind: string; labels: string[]; parameters: unknown; agent: { id: string } } }>(
      a,
      `mutation($input: CreateTaskInput!) { createTask(input: $input) { ${TASK} } }`,
      {
        input: {
          agentId, name: "Sentiment", description: "positive or negative", labels: ["positive", "negative"],
          parameters: { language: "en" }, examples: SENTIMENT_EXAMPLES,
        },
      },
    );
    expect(createTask).toMatchObject({ kind: "classification", labels: ["positive", "negative"], parameters: { language: "en" } });
    expect(createTask.agent.id).toBe(agentId);

    const { task } = await gqlOk<{
      task: { examples: { edges: { node: { input: string; label: string; source: string; task: { id: string } } }[] }; latestAdaptation: null; executions: { edges: unknown[] } };
    }>(
      a,
      `query($id: ID!) { task(id: $id) { id examples(first: 10) { edges { node { input label source task { id } } } }
        latestAdaptation { id } executions { edges { cursor } } } }`,
      { id: createTask.id },
    );
    expect(task.examples.edges.map((e) => e.node.input)).toEqual(SENTIMENT_EXAMPLES.map((e) => e.input));
    expect(task.examples.edges.every((e) => e.node.source === "user" && e.node.task.id === createTask.id)).toBe(true);
    expect(task.latestAdaptation).toBeNull();
    expect(task.executions.edges).toEqual([]);

    const { agent } = await gqlOk<{ agent: { tasks: { edges: { node: { id: string } }[] } } }>(
      a,
      `query($id: ID!) { agent(id: $id) { tasks { edges { node { id } } } } }`,
      { id: agentId },
    );
    expect(agent.tasks.edges.map((e) => e.node.id)).toEqual([createTask.id]);
  });

  it("adds, pages and removes examples; a label outside the task's set is refused with nothing stored", async () => {
    const a = await newAccount();
    const agentId = await agentFor(a);
    const { createTask } = await gqlOk<{ createTask: { id: string } }>(
      a,
      `mutation($agentId: ID!) { createTask(input: { agentId: $agentId, name: "T", labels: ["yes", "no"] }) { id } }`,
      { agentId },
    );
    const taskId = createTask.id;
    const add = `mutation($taskId: ID!, $examples: [ExampleInput!]!) { addExamples(taskId: $taskId, examples: $examples) { id input label } }`;
    const { addExamples } = await gqlOk<{ addExamples: { id: string; input: string }[] }>(a, add, {
      taskId,
      examples: [{ input: "one", label: "yes" }, { input: "two", label: "no" }, { input: "three", label: "yes" }],
    });
    expect(addExamples.map((e) => e.input)).toEqual(["one", "two", "three"]);

    const bad = await gql(a, add, { taskId, examples: [{ input: "four", label: "yes" }, { input: "five", label: "maybe" }] });
    expect(codes(bad)).toEqual(["VALIDATION_FAILED"]);
    expect(bad.errors[0]?.extensions?.issues?.[0]?.path).toBe("examples.1.label");

    type Conn = { examples: { edges: { node: { input: string } }[]; pageInfo: { hasNextPage: boolean; endCursor: string } } };
    const page1 = await gqlOk<Conn>(a, `query($taskId: ID!) { examples(taskId: $taskId, first: 2) { edges { node { input } } pageInfo { hasNextPage endCursor } } }`, { taskId });
    expect(page1.examples.edges.map((e) => e.node.input)).toEqual(["one", "two"]);
    expect(page1.examples.pageInfo.hasNextPage).toBe(true);
    // Nested connection continued after a cursor: the same rows as the top-level list.
    const nested = await gqlOk<{ task: Conn }>(
      a,
      `query($taskId: ID!, $after: String) { task(id: $taskId) { examples(first: 5, after: $after) { edges { node { input } } pageInfo { hasNextPage endCursor } } } }`,
      { taskId, after: page1.examples.pageInfo.endCursor },
    );
    expect(nested.task.examples.edges.map((e) => e.node.input)).toEqual(["three"]);
    expect(nested.task.examples.pageInfo.hasNextPage).toBe(false);

    const removed = await gqlOk<{ removeExample: string }>(a, `mutation($id: ID!) { removeExample(id: $id) }`, { id: addExamples[0]!.id });
    expect(removed.removeExample).toBe(addExamples[0]!.id);
    expect(codes(await gql(a, `query($id: ID!) { example(id: $id) { id } }`, { id: addExamples[0]!.id }))).toEqual(["NOT_FOUND"]);
    const { example } = await gqlOk<{ example: { input: string } }>(a, `query($id: ID!) { example(id: $id) { input } }`, { id: addExamples[1]!.id });
    expect(example.input).toBe("two");
  });

  it("creates a task from a plain-language request through the LLM", async () => {
    const a = await newAccount();
    const agentId = await agentFor(a, "task-json");
    const request = `Sort customer messages by mood ${marker()}`;
    const { createTaskFromRequest } = await gqlOk<{ createTaskFromRequest: { name: string; kind: string; labels: string[]; sourceRequest: string; parameters: Record<string, unknown> } }>(
      a,
      `mutation($input: CreateTaskFromRequestInput!) { createTaskFromRequest(input: $input) { ${TASK} } }`,
      { input: { agentId, request, examples: [{ input: "meh", label: "neutral" }] } },
    );
    expect(createTaskFromRequest.sourceRequest).toBe(request);
    expect(createTaskFromRequest.kind).toBe("classification");
    // The LLM's labels, plus the one the caller's example uses.
    expect(createTaskFromRequest.labels).toEqual(["positive", "negative", "neutral"]);
    expect(createTaskFromRequest.parameters).toEqual({ drafted_by: "fake-llm" });
  });

  it("answers LLM_UNAVAILABLE when the LLM's task draft is unusable, and stores nothing", async () => {
    const a = await newAccount();
    const agentId = await agentFor(a, "task-bad-json");
    const result = await gql(a, `mutation($agentId: ID!) { createTaskFromRequest(input: { agentId: $agentId, request: "anything" }) { id } }`, { agentId });
    expect(codes(result)).toEqual(["LLM_UNAVAILABLE"]);
    const { tasks } = await gqlOk<{ tasks: { edges: unknown[] } }>(a, `{ tasks { edges { cursor } } }`);
    expect(tasks.edges).toEqual([]);
  });

  it("updates and deletes a task; B can neither see nor touch A's task or examples", async () => {
    const a = await newAccount();
    const b = await newAccount();
    const agentId = await agentFor(a);
    const { createTask } = await gqlOk<{ createTask: { id: string } }>(
      a,
      `mutation($agentId: ID!) { createTask(input: { agentId: $agentId, name: "T", labels: ["x", "y"], examples: [{ input: "i", label: "x" }] }) { id } }`,
      { agentId },
    );
    const taskId = createTask.id;
    const exampleId = (await gqlOk<{ task: { examples: { edges: { node: { id: string } }[] } } }>(
      a, `query($id: ID!) { task(id: $id) { examples { edges { node { id } } } } }`, { id: taskId },
    )).task.examples.edges[0]!.node.id;

    for (const [query, vars] of [
      [`query($id: ID!) { task(id: $id) { id } }`, { id: taskId }],
      [`query($id: ID!) { example(id: $id) { id } }`, { id: exampleId }],
      [`query($id: ID!) { examples(taskId: $id) { edges { cursor } } }`, { id: taskId }],
      [`mutation($id: ID!) { updateTask(id: $id, input: { name: "mine" }) { id } }`, { id: taskId }],
      [`mutation($id: ID!) { addExamples(taskId: $id, examples: [{ input: "z", label: "x" }]) { id } }`, { id: taskId }],
      [`mutation($id: ID!) { removeExample(id: $id) }`, { id: exampleId }],
      [`mutation($id: ID!) { deleteTask(id: $id) }`, { id: taskId }],
      [`mutation($agentId: ID!) { createTask(input: { agentId: $agentId, name: "in A's agent" }) { id } }`, { agentId }],
    ] as const) {
      expect(codes(await gql(b, query, vars)), query).toEqual(["NOT_FOUND"]);
    }
    expect((await gqlOk<{ tasks: { edges: unknown[] } }>(b, `{ tasks { edges { cursor } } }`)).tasks.edges).toEqual([]);

    const { updateTask } = await gqlOk<{ updateTask: { name: string; labels: string[]; confidenceThreshold: number } }>(
      a, `mutation($id: ID!) { updateTask(id: $id, input: { name: "Renamed", confidenceThreshold: 0.9 }) { name labels confidenceThreshold } }`, { id: taskId },
    );
    expect(updateTask).toEqual({ name: "Renamed", labels: ["x", "y"], confidenceThreshold: 0.9 });
    expect((await gqlOk<{ deleteTask: string }>(a, `mutation($id: ID!) { deleteTask(id: $id) }`, { id: taskId })).deleteTask).toBe(taskId);
    expect(codes(await gql(a, `query($id: ID!) { example(id: $id) { id } }`, { id: exampleId }))).toEqual(["NOT_FOUND"]);
  });

  it("quotes a client's value back cut at 100 characters: a 1 MB id is not echoed in its NOT_FOUND", async () => {
    const a = await newAccount();
    const id = "x".repeat(1 << 20);
    const res = await gql(a, `query($id: ID!) { task(id: $id) { id } }`, { id });
    expect(codes(res)).toEqual(["NOT_FOUND"]);
    expect(res.errors[0]!.message).toBe(`Task ${"x".repeat(100)}… was not found.`);
    expect(res.text.length).toBeLessThan(1000);
  });
});
