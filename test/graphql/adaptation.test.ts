// With a real meta-trained artifact active (test/model/publish.ts puts it into local R2 and D1): the
// GraphQL side of adapting a task and of executions answered by the model.
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { resetModelCacheForTests } from "../../functions/model/loader";
import { deactivateAll, publishArtifact } from "../model/publish";
import { newAccount, SENTIMENT_EXAMPLES } from "../support/fixtures";
import { codes, gql, gqlOk } from "./gql";

let version = "";
beforeAll(async () => {
  resetModelCacheForTests();
  version = await publishArtifact({ version: `gql-${crypto.randomUUID().slice(0, 8)}` });
});
afterAll(() => deactivateAll());

const ADAPTATION = `id modelVersion algorithm steps supportSize labels supportLossBefore supportLossAfter
  supportAccBefore supportAccAfter durationMs supportFingerprint model { version active } task { id }`;

describe("GraphQL with a model version active", () => {
  it("adapts a task and answers executions from the adapted model", async () => {
    const a = await newAccount();
    const { createAgent } = await gqlOk<{ createAgent: { id: string } }>(a, `mutation { createAgent(input: { name: "M" }) { id } }`);
    const { createTask } = await gqlOk<{ createTask: { id: string } }>(
      a,
      `mutation($input: CreateTaskInput!) { createTask(input: $input) { id } }`,
      { input: { agentId: createAgent.id, name: "Sentiment", labels: ["positive", "negative"], examples: SENTIMENT_EXAMPLES } },
    );
    const taskId = createTask.id;

    const { adaptTask } = await gqlOk<{ adaptTask: { id: string; modelVersion: string; supportSize: number; labels: string[]; steps: number; supportAccAfter: number; model: { version: string; active: boolean }; task: { id: string } } }>(
      a, `mutation($id: ID!) { adaptTask(taskId: $id) { ${ADAPTATION} } }`, { id: taskId },
    );
    expect(adaptTask).toMatchObject({ modelVersion: version, supportSize: 4, model: { version, active: true }, task: { id: taskId } });
    expect([...adaptTask.labels].sort()).toEqual(["negative", "positive"]);
    expect(adaptTask.steps).toBeGreaterThan(0);
    expect(adaptTask.supportAccAfter).toBeGreaterThanOrEqual(0);
    expect(adaptTask.supportAccAfter).toBeLessThanOrEqual(1);

    const { task, activeModelVersion } = await gqlOk<{ task: { latestAdaptation: { id: string }; adaptations: { edges: { node: { id: string } }[] } }; activeModelVersion: { version: string } }>(
      a, `query($id: ID!) { task(id: $id) { latestAdaptation { id } adaptations { edges { node { id } } } } activeModelVersion { version } }`, { id: taskId },
    );
    expect(task.latestAdaptation.id).toBe(adaptTask.id);
    expect(task.adaptations.edges.map((e) => e.node.id)).toContain(adaptTask.id);
    expect(activeModelVersion.version).toBe(version);

    const { executeTask } = await gqlOk<{ executeTask: { path: string; modelVersion: string; adaptationId: string; predictedLabel: string; confidence: number; scores: { label: string; score: number }[]; demonstrations: { exampleId: string; similarity: number; example: { id: string; input: string } }[] } }>(
      a,
      `mutation($id: ID!) { executeTask(taskId: $id, input: "I really love it, thank you") {
        path modelVersion adaptationId predictedLabel confidence scores { label score }
        demonstrations { exampleId similarity example { id input } } } }`,
      { id: taskId },
    );
    expect(["model", "model_llm"]).toContain(executeTask.path);
    expect(executeTask.modelVersion).toBe(version);
    expect(["positive", "negative"]).toContain(executeTask.predictedLabel);
    expect(executeTask.scores.length).toBeGreaterThan(0);
    expect(executeTask.demonstrations.length).toBeGreaterThan(0);
    for (const d of executeTask.demonstrations) expect(d.example.id).toBe(d.exampleId);
  });

  it("refuses to adapt a task without examples of two labels, and another account's task", async () => {
    const a = await newAccount();
    const b = await newAccount();
    const { createAgent } = await gqlOk<{ createAgent: { id: string } }>(a, `mutation { createAgent(input: { name: "M" }) { id } }`);
    const { createTask } = await gqlOk<{ createTask: { id: string } }>(
      a,
      `mutation($agentId: ID!) { createTask(input: { agentId: $agentId, name: "T", labels: ["x", "y"], examples: [{ input: "only x", label: "x" }] }) { id } }`,
      { agentId: createAgent.id },
    );
    expect(codes(await gql(a, `mutation($id: ID!) { adaptTask(taskId: $id) { id } }`, { id: createTask.id }))).toEqual(["VALIDATION_FAILED"]);
    expect(codes(await gql(b, `mutation($id: ID!) { adaptTask(taskId: $id) { id } }`, { id: createTask.id }))).toEqual(["NOT_FOUND"]);
  });
});
