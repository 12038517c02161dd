import { env } from "cloudflare:workers";
import { describe, expect, it } from "vitest";
import { AppError } from "../../functions/errors";
import { listExamples } from "../../functions/examples";
import { deleteTask, getTask, listTasks } from "../../functions/tasks";
import { addExamples, createTask, createTaskFromRequest, updateTask } from "../../functions/taskSetup";
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

  it("labels are the same label ignoring case and Unicode normalisation; examples take the task's spelling", async () => {
    const { deps, accountId } = await newAccount();
    const agentId = (await newAgent(deps)).id;
    const base = { agentId, name: "Labels" };
    expect((await fail(createTask(deps, { ...base, labels: ["Refund", "refund"] }))).code).toBe("VALIDATION_FAILED");
    expect((await fail(createTask(deps, { ...base, labels: ["caf\u00e9", "cafe\u0301"] }))).code).toBe("VALIDATION_FAILED");
    const task = await createTask(deps, {
      ...base, labels: ["Refund", "caf\u00e9"],
      examples: [{ input: "money back please", label: "REFUND" }, { input: "a latte", label: "CAFE\u0301" }],
    });
    expect((await listExamples(deps, task.id)).nodes.map((e) => e.label).sort()).toEqual(["Refund", "caf\u00e9"]);
    expect(await countTasks(accountId)).toBe(1);
  });

  it("a task without a label list takes at most 200 distinct labels from its examples, counted with the stored ones", async () => {
    const { deps } = await newAccount();
    const agentId = (await newAgent(deps)).id;
    const many = (n: number, from = 0) => Array.from({ length: n }, (_, i) => ({ input: `text ${from + i}`, label: `label-${from + i}` }));
    expect((await fail(createTask(deps, { agentId, name: "Too many", examples: many(201) }))).code).toBe("VALIDATION_FAILED");
    const task = await createTask(deps, { agentId, name: "Open labels", examples: [...many(150), { input: "again", label: "LABEL-0" }] });
    const stored = await env.DB.prepare("SELECT COUNT(DISTINCT label) AS n FROM examples WHERE task_id = ?").bind(task.id).first<{ n: number }>();
    expect(stored?.n).toBe(150); // "LABEL-0" is stored as "label-0"
    const over = await fail(addExamples(deps, task.id, many(51, 150)));
    expect(over.code).toBe("VALIDATION_FAILED");
    expect(over.issues[0]?.message).toMatch(/at most 200 distinct labels \(this would make 201\)/);
    const count = await env.DB.prepare("SELECT COUNT(*) AS n FROM examples WHERE task_id = ?").bind(task.id).first<{ n: number }>();
    expect(count?.n).toBe(151); // nothing of the refused call was written
    expect(await addExamples(deps, task.id, many(50, 150))).toHaveLength(50);
  });

  it("refuses labels holding invisible characters, on every path that names a label", async () => {
    const { deps, accountId } = await newAccount();
    const agentId = (await newAgent(deps)).id;
    for (const sneaky of ["re\u200bfund", "\u200b", "refund\u200d", "\u202erefund", "soft\u00adhyphen", "tab\tinside"]) {
      const listed = await fail(createTask(deps, { agentId, name: "Invisible", labels: ["refund", sneaky] }));
      expect(listed.code).toBe("VALIDATION_FAILED");
      expect(listed.issues[0]).toMatchObject({ path: "labels.1", message: expect.stringMatching(/invisible characters \(U\+[0-9A-F]{4} found\)/) });
      const example = await fail(createTask(deps, { agentId, name: "Invisible", examples: [{ input: "x", label: sneaky }] }));
      expect(example.issues[0]?.path).toBe("examples.0.label");
    }
    expect(await countTasks(accountId)).toBe(0);
    const open = await createTask(deps, { agentId, name: "Open", examples: [{ input: "money back", label: "refund" }] });
    expect((await fail(addExamples(deps, open.id, [{ input: "again", label: "re\u200bfund" }]))).code).toBe("VALIDATION_FAILED");
    // Blanks at either end are trimmed, as before; a label of compatibility forms folds to its plain one.
    await addExamples(deps, open.id, [{ input: "wide", label: "\uff32\uff45\uff46\uff55\uff4e\uff44" }, { input: "spaced", label: " refund\t" }]);
    expect(new Set((await listExamples(deps, open.id)).nodes.map((e) => e.label))).toEqual(new Set(["refund"]));
  });

  it("8 concurrent addExamples of 100 new labels each never take a task past 200 labels", async () => {
    const { deps } = await newAccount();
    const agentId = (await newAgent(deps)).id;
    const task = await createTask(deps, { agentId, name: "Race", examples: [{ input: "seed", label: "seed" }] });
    const batch = (b: number) => Array.from({ length: 100 }, (_, i) => ({ input: `text ${b}-${i}`, label: `label-${b}-${i}` }));
    const results = await Promise.allSettled(Array.from({ length: 8 }, (_, b) => addExamples(deps, task.id, batch(b))));
    const accepted = results.filter((r) => r.status === "fulfilled").length;
    for (const r of results) {
      if (r.status === "rejected") expect(["VALIDATION_FAILED", "CONFLICT"]).toContain((r.reason as AppError).code);
    }
    const stored = await env.DB.prepare("SELECT COUNT(DISTINCT label) AS n, COUNT(*) AS rows FROM examples WHERE task_id = ?")
      .bind(task.id).first<{ n: number; rows: number }>();
    expect(stored!.n).toBeLessThanOrEqual(200);
    expect(accepted).toBe(1); // seed + 100 fit; a second 100 would make 201
    expect(stored).toEqual({ n: 1 + 100 * accepted, rows: 1 + 100 * accepted }); // a refused call wrote nothing
  });

  it("concurrent writes of one new label in different cases store it once, in the first spelling", async () => {
    const { deps } = await newAccount();
    const agentId = (await newAgent(deps)).id;
    const task = await createTask(deps, { agentId, name: "Case race", examples: [{ input: "seed", label: "seed" }] });
    const spellings = ["LOST_CARD", "Lost_Card", "lost_card", "lost_card", "LOST_card", "Lost_card"];
    await Promise.all(spellings.map((label, i) => addExamples(deps, task.id, [{ input: `lost ${i}`, label }])));
    const labels = new Set((await listExamples(deps, task.id, { first: 100 })).nodes.map((e) => e.label));
    expect(labels.size).toBe(2);
    expect(labels.has("seed")).toBe(true);
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
