import { env } from "cloudflare:workers";
import { describe, expect, it } from "vitest";
import { AppError } from "../../functions/errors";
import { listExamples } from "../../functions/examples";
import { createTask, createTaskFromRequest, deleteTask, getTask, listTasks, updateTask } from "../../functions/tasks";
import { llmRequests, marker, newAccount, newAgent, newTask, withEnv } from "../support/fixtures";

const fail = async (p: Promise<unknown>) => (await p.then(() => null, (e: unknown) => e)) as AppError;
const countTasks = async (accountId: string) =>
  (await env.DB.prepare("SELECT COUNT(*) AS n FROM tasks WHERE account_id = ?").bind(accountId).first<{ n: number }>())!.n;

describe("tasks", () => {
  it("creates a task with its examples in one go, with defaults", async () => {
    const { deps } = await newAccount();
    const task = await newTask(deps);
    expect(task).toMatchObject({ kind: "classification", labels: ["positive", "negative"], confidenceThreshold: 0.7, parameters: {}, sourceRequest: null });
    const examples = await listExamples(deps, task.id);
    expect(examples.nodes.map((e) => [e.input, e.label, e.source])).toContainEqual(["I love this product", "positive", "user"]);
    expect(examples.nodes).toHaveLength(4);
  });

  it("checks examples against the task: labels from its set, outputs for generation", async () => {
    const { deps, accountId } = await newAccount();
    const agent = await newAgent(deps);
    const wrongLabel = await fail(
      createTask(deps, { agentId: agent.id, name: "t", labels: ["a"], examples: [{ input: "x", label: "a" }, { input: "y", label: "zzz" }] }),
    );
    expect(wrongLabel.code).toBe("VALIDATION_FAILED");
    expect(wrongLabel.issues).toEqual([{ path: "examples.1.label", message: expect.stringContaining("zzz") }]);
    const noOutput = await fail(createTask(deps, { agentId: agent.id, name: "g", kind: "generation", examples: [{ input: "x" }] }));
    expect(noOutput.issues[0]?.path).toBe("examples.0.output");
    const dupLabels = await fail(createTask(deps, { agentId: agent.id, name: "d", labels: ["a", "a"] }));
    expect(dupLabels.issues[0]?.path).toBe("labels");
    expect(await countTasks(accountId)).toBe(0); // nothing half-written
  });

  it("drafts a task from a plain-language request through the LLM and keeps the request", async () => {
    const { deps } = await newAccount();
    const agent = await newAgent(deps, { llmModel: "task-json" });
    const request = `route angry emails ${marker()}`;
    const task = await createTaskFromRequest(deps, { agentId: agent.id, request, examples: [{ input: "meh", label: "neutral" }] });
    expect(task).toMatchObject({
      name: `Drafted: ${request.slice(0, 40)}`,
      kind: "classification",
      labels: ["positive", "negative", "neutral"], // the example's label joins the drafted set
      parameters: { drafted_by: "fake-llm" },
      sourceRequest: request,
    });
    const [sent] = await llmRequests(request);
    expect(sent?.body.response_format).toEqual({ type: "json_object" });
  });

  it("refuses an LLM draft that is not the JSON asked for, storing nothing", async () => {
    const { deps, accountId } = await newAccount();
    const agent = await newAgent(deps, { llmModel: "task-bad-json" });
    const error = await fail(createTaskFromRequest(deps, { agentId: agent.id, request: "something" }));
    expect(error.code).toBe("LLM_UNAVAILABLE");
    expect(await countTasks(accountId)).toBe(0);
  });

  it("says plainly when no LLM is configured", async () => {
    const { deps } = await newAccount();
    const agent = await newAgent(deps, { llmModel: "task-json" });
    const error = await fail(createTaskFromRequest(withEnv(deps, { LLM_API_KEY: "" }), { agentId: agent.id, request: "x" }));
    expect(error.code).toBe("LLM_NOT_CONFIGURED");
    // ... while everything that needs no LLM still works without a key
    expect((await newTask(withEnv(deps, { LLM_API_KEY: "" }))).id).toBeTruthy();
  });

  it("updates, lists by agent and deletes", async () => {
    const { deps } = await newAccount();
    const a = await newTask(deps);
    const b = await newTask(deps, { agentId: a.agentId, name: "Second" });
    const other = await newTask(deps);
    const updated = await updateTask(deps, a.id, { description: "new", confidenceThreshold: 0.9, parameters: { tone: "dry" } });
    expect(updated).toMatchObject({ description: "new", confidenceThreshold: 0.9, parameters: { tone: "dry" }, name: "Sentiment" });
    expect((await listTasks(deps, { agentId: a.agentId })).nodes.map((t) => t.id)).toEqual([a.id, b.id]);
    expect((await listTasks(deps)).nodes.map((t) => t.id)).toEqual([a.id, b.id, other.id]);
    await deleteTask(deps, a.id);
    expect((await fail(getTask(deps, a.id))).code).toBe("NOT_FOUND");
    expect((await fail(updateTask(deps, a.id, { name: "x" }))).code).toBe("NOT_FOUND");
    expect((await fail(updateTask(deps, b.id, { confidenceThreshold: 2 }))).code).toBe("VALIDATION_FAILED");
    const dropsUsed = await fail(updateTask(deps, b.id, { labels: ["positive"] }));
    expect(dropsUsed.issues).toEqual([{ path: "labels", message: expect.stringContaining("negative") }]);
    expect((await updateTask(deps, b.id, { labels: ["positive", "negative", "neutral"] })).labels).toHaveLength(3);
    expect((await fail(listTasks(deps, { agentId: "missing" }))).code).toBe("NOT_FOUND");
  });
});
