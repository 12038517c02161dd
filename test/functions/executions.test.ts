// executeTask end to end: real D1, the real openai SDK against the local LLM server. The model routes
// ('model', 'model+llm') are driven by passing a Predictor, the seam functions/model fills in.
import { env } from "cloudflare:workers";
import { describe, expect, it } from "vitest";
import { listMessages, listConversations, getConversation } from "../../functions/conversations";
import { AppError } from "../../functions/errors";
import { executeTask, getExecution, listExecutions, type Predictor } from "../../functions/executions";
import { listExamples } from "../../functions/examples";
import { deleteTask } from "../../functions/tasks";
import type { Prediction } from "../../functions/model/index";
import { llmRequests, marker, newAccount, newTask, withEnv } from "../support/fixtures";

const fail = async (p: Promise<unknown>) => (await p.then(() => null, (e: unknown) => e)) as AppError;

/** A stored (inactive) model version and an adaptation of the task, as the model runtime would write them. */
async function storedAdaptation(accountId: string, taskId: string): Promise<{ modelVersion: string; adaptationId: string }> {
  const modelVersion = `test-${crypto.randomUUID()}`;
  const adaptationId = crypto.randomUUID();
  await env.DB.batch([
    env.DB.prepare("INSERT INTO model_versions (version, r2_prefix, manifest_sha256, algorithm, encoder) VALUES (?, ?, ?, ?, ?)")
      .bind(modelVersion, `models/${modelVersion}/`, "0".repeat(64), "protonet", "test"),
    env.DB.prepare(
      `INSERT INTO adaptations (id, account_id, task_id, model_version, algorithm, steps, support_size, labels_json, duration_ms, support_fingerprint)
       VALUES (?, ?, ?, ?, 'protonet', 0, 4, '["positive","negative"]', 1.5, 'fp')`,
    ).bind(adaptationId, accountId, taskId, modelVersion),
  ]);
  return { modelVersion, adaptationId };
}

const predicting = (p: Omit<Prediction, "demonstrations"> & { demonstrations?: Prediction["demonstrations"] }): Predictor =>
  async () => ({ outcome: { demonstrations: [], ...p } });

describe("executeTask: the in-context LLM baseline (no model yet)", () => {
  it("prompts with instructions, description, labels and every example, then stores execution + turn", async () => {
    const { deps } = await newAccount();
    const task = await newTask(deps, { agent: { instructions: "You triage support mail." } });
    const m = marker();
    const execution = await executeTask(deps, { taskId: task.id, input: `Is this good? ${m}` });
    expect(execution).toMatchObject({
      status: "succeeded", path: "llm_baseline", output: "positive", predictedLabel: "positive", llmModel: "echo",
      promptTokens: 42, completionTokens: 7, modelVersion: null, errorCode: null,
    });
    expect(execution.latencyMs).toBeGreaterThanOrEqual(0);
    const [request] = await llmRequests(m);
    const messages = request!.body.messages!;
    expect(messages[0]!.role).toBe("system");
    expect(messages[0]!.content).toContain("You triage support mail.");
    expect(messages[0]!.content).toContain(task.description);
    expect(messages[0]!.content).toContain("positive, negative");
    // the four examples as demonstrations: user input → assistant label
    expect(messages.slice(1, 9).map((x) => x.content)).toEqual([
      "I love this product", "positive", "Fantastic support, thank you", "positive",
      "This is broken again", "negative", "Worst purchase ever", "negative",
    ]);
    expect(messages.at(-1)).toEqual({ role: "user", content: `Is this good? ${m}` });
    // asked for one of the task's labels as structured output
    expect(request!.body.response_format).toEqual({
      type: "json_schema",
      json_schema: {
        name: "classification", strict: true,
        schema: { type: "object", properties: { label: { type: "string", enum: ["positive", "negative"] } }, required: ["label"], additionalProperties: false },
      },
    });
    const turn = await listMessages(deps, execution.conversationId!);
    expect(turn.nodes.map((x) => [x.role, x.content, x.executionId])).toEqual([
      ["user", `Is this good? ${m}`, execution.id],
      ["assistant", execution.output, execution.id],
    ]);
  });

  it("continues a conversation: earlier turns come before the new input", async () => {
    const { deps } = await newAccount();
    const task = await newTask(deps, { examples: [] });
    const first = await executeTask(deps, { taskId: task.id, input: "first question" });
    const m = marker();
    const second = await executeTask(deps, { taskId: task.id, input: `follow-up ${m}`, conversationId: first.conversationId });
    expect(second.conversationId).toBe(first.conversationId);
    const [request] = await llmRequests(m);
    expect(request!.body.messages!.slice(1).map((x) => x.content)).toEqual(["first question", "positive", `follow-up ${m}`]);
    expect((await listMessages(deps, first.conversationId!)).nodes).toHaveLength(4);
    expect((await listConversations(deps, task.id)).nodes.map((c) => c.id)).toEqual([first.conversationId]);
    expect((await getConversation(deps, first.conversationId!)).taskId).toBe(task.id);
  });

  it("matches a classification answer to the task's label", async () => {
    const { deps } = await newAccount();
    const task = await newTask(deps, { agent: { llmModel: "label:Negative" } });
    expect((await executeTask(deps, { taskId: task.id, input: "meh" })).predictedLabel).toBe("negative");
  });

  it.each([
    ["slow", /timed out/],
    ["error-500", /HTTP 500/],
    ["malformed", /malformed/],
  ])("LLM %s: a failed execution is stored, no conversation turn, typed error thrown", async (model, message) => {
    const { deps } = await newAccount();
    const task = await newTask(deps, { agent: { llmModel: model } });
    const error = await fail(executeTask(deps, { taskId: task.id, input: "hello" }));
    expect(error.code).toBe("LLM_UNAVAILABLE");
    expect(error.message).toMatch(message);
    const [failed] = (await listExecutions(deps, task.id)).nodes;
    expect(failed).toMatchObject({ status: "failed", errorCode: "LLM_UNAVAILABLE", output: null, path: "llm_baseline" });
    const msgs = await env.DB.prepare("SELECT COUNT(*) AS n FROM messages m JOIN conversations c ON c.id = m.conversation_id WHERE c.task_id = ?").bind(task.id).first<{ n: number }>();
    expect(msgs!.n).toBe(0);
  });

  it("without a key: LLM_NOT_CONFIGURED, recorded as a failed execution", async () => {
    const { deps } = await newAccount();
    const task = await newTask(deps);
    const error = await fail(executeTask(withEnv(deps, { LLM_API_KEY: "" }), { taskId: task.id, input: "x" }));
    expect(error.code).toBe("LLM_NOT_CONFIGURED");
    expect((await listExecutions(deps, task.id)).nodes[0]).toMatchObject({ status: "failed", errorCode: "LLM_NOT_CONFIGURED" });
  });

  it("validates input, conversation ownership and ids", async () => {
    const { deps } = await newAccount();
    const task = await newTask(deps);
    const other = await newTask(deps);
    const { conversationId } = await executeTask(deps, { taskId: other.id, input: "x" });
    expect((await fail(executeTask(deps, { taskId: task.id, input: "   " }))).code).toBe("VALIDATION_FAILED");
    expect((await fail(executeTask(deps, { taskId: task.id, input: "x".repeat(8001) }))).code).toBe("VALIDATION_FAILED");
    const wrongConversation = await fail(executeTask(deps, { taskId: task.id, input: "x", conversationId }));
    expect(wrongConversation.issues[0]?.path).toBe("conversationId");
    expect((await fail(executeTask(deps, { taskId: "missing", input: "x" }))).code).toBe("NOT_FOUND");
    expect((await fail(executeTask(deps, { taskId: task.id, input: "x", conversationId: "missing" }))).code).toBe("NOT_FOUND");
    expect((await fail(getExecution(deps, "missing"))).code).toBe("NOT_FOUND");
  });
});

describe("executeTask with a prediction from the model seam", () => {
  it("'model': a confident classification is answered by the label alone, without the LLM", async () => {
    const { deps, accountId } = await newAccount();
    const task = await newTask(deps, { agent: { llmModel: "error-500" } }); // any LLM call would fail
    const stored = await storedAdaptation(accountId, task.id);
    const execution = await executeTask(
      deps,
      { taskId: task.id, input: "love it" },
      predicting({ ...stored, label: "positive", confidence: 0.93, scores: [{ label: "positive", score: 0.93 }] }),
    );
    expect(execution).toMatchObject({
      path: "model", output: "positive", predictedLabel: "positive", confidence: 0.93, ...stored,
      llmModel: null, promptTokens: null, scores: [{ label: "positive", score: 0.93 }],
    });
  });

  it("returns the Execution exactly as stored, without reading it back", async () => {
    const { deps, accountId } = await newAccount();
    const task = await newTask(deps);
    const stored = await storedAdaptation(accountId, task.id);
    for (const confidence of [0.93, 0.2]) { // answered by the model, and by the LLM with demonstrations
      const execution = await executeTask(
        deps,
        { taskId: task.id, input: `love it ${confidence}` },
        predicting({ ...stored, label: "positive", confidence, scores: [{ label: "positive", score: confidence }, { label: "negative", score: 1 - confidence }] }),
      );
      expect(execution).toEqual(await getExecution(deps, execution.id));
    }
  });

  it("'model+llm': below the threshold the LLM answers, guided by the label and the retrieved examples", async () => {
    const { deps, accountId } = await newAccount();
    const task = await newTask(deps);
    const stored = await storedAdaptation(accountId, task.id);
    const examples = (await listExamples(deps, task.id)).nodes;
    const nearest = examples[3]!; // "Worst purchase ever"
    const m = marker();
    const execution = await executeTask(
      deps,
      { taskId: task.id, input: `so bad ${m}` },
      predicting({
        ...stored, label: "negative", confidence: 0.55,
        scores: [{ label: "negative", score: 0.55 }, { label: "positive", score: 0.45 }],
        demonstrations: [{ exampleId: nearest.id, similarity: 0.8 }],
      }),
    );
    // The LLM's label answers (the local LLM offers the first label it is given: the task's first).
    expect(execution).toMatchObject({ path: "model+llm", predictedLabel: "negative", output: "positive" });
    expect(execution.pathReason).toContain("< threshold 0.7");
    const [request] = await llmRequests(m);
    const messages = request!.body.messages!;
    expect(messages[0]!.content).toContain('predicts "negative" with confidence 0.55');
    expect(messages.slice(1).map((x) => x.content)).toEqual(["Worst purchase ever", "negative", `so bad ${m}`]);
  });

  it("a failing model runtime falls back to the baseline and says why", async () => {
    const { deps } = await newAccount();
    const task = await newTask(deps);
    const broken: Predictor = async () => {
      throw new AppError("MODEL_UNAVAILABLE", "artifact missing", 503);
    };
    const execution = await executeTask(deps, { taskId: task.id, input: "x" }, broken);
    expect(execution.path).toBe("llm_baseline");
    expect(execution.pathReason).toBe("the model failed (MODEL_UNAVAILABLE): in-context LLM baseline");
  });

  it("a task deleted while its execution runs: NOT_FOUND, and nothing half-written", async () => {
    const { deps } = await newAccount();
    const task = await newTask(deps);
    const deletingMeanwhile: Predictor = async () => {
      await deleteTask(deps, task.id);
      return { outcome: { none: "no_active_model" } };
    };
    const error = await fail(executeTask(deps, { taskId: task.id, input: "x" }, deletingMeanwhile));
    expect(error.code).toBe("NOT_FOUND");
    const rows = await env.DB.prepare("SELECT (SELECT COUNT(*) FROM executions WHERE task_id = ?1) AS e, (SELECT COUNT(*) FROM conversations WHERE task_id = ?1) AS c").bind(task.id).first<{ e: number; c: number }>();
    expect(rows).toEqual({ e: 0, c: 0 });
  });

  it("says which of its reasons left the model without a prediction", async () => {
    const { deps } = await newAccount();
    const task = await newTask(deps);
    const none = (why: "no_active_model" | "no_examples"): Predictor => async () => ({ outcome: { none: why } });
    const noModel = await executeTask(deps, { taskId: task.id, input: "x" }, none("no_active_model"));
    expect(noModel).toMatchObject({ path: "llm_baseline", pathReason: "no active model version: in-context LLM baseline" });
    const noExamples = await executeTask(deps, { taskId: task.id, input: "x" }, none("no_examples"));
    expect(noExamples).toMatchObject({ path: "llm_baseline", pathReason: "the task has no labelled example yet: in-context LLM baseline" });
  });
});

describe("executeTask: a classification answer from the LLM is one of the task's labels, never free text", () => {
  it("an LLM that answers free text is asked once more; still none: no label, no output, and the reason says so", async () => {
    const { deps } = await newAccount();
    const task = await newTask(deps, { agent: { llmModel: "free-text" } });
    const m = marker();
    const execution = await executeTask(deps, { taskId: task.id, input: `what a day ${m}` });
    expect(execution).toMatchObject({ status: "succeeded", path: "llm_baseline", output: null, predictedLabel: null, promptTokens: 84, completionTokens: 14 });
    expect(execution.pathReason).toBe("no active model version: in-context LLM baseline; the LLM named none of the task's labels (asked 2 times): no label");
    const requests = await llmRequests(m);
    expect(requests).toHaveLength(2);
    for (const r of requests) expect(r.body.response_format).toMatchObject({ type: "json_schema", json_schema: { schema: { properties: { label: { enum: ["positive", "negative"] } } } } });
    // the retry shows the LLM its answer and asks again, naming the labels
    expect(requests[1]!.body.messages!.slice(-2)).toEqual([
      { role: "assistant", content: `echo: what a day ${m}` },
      { role: "user", content: expect.stringMatching(/does not name one of the labels.*positive, negative$/) },
    ]);
    const stored = await env.DB.prepare("SELECT output, predicted_label FROM executions WHERE id = ?").bind(execution.id).first();
    expect(stored).toEqual({ output: null, predicted_label: null });
  });

  it("an answer naming a label on the second asking is the answer", async () => {
    const { deps } = await newAccount();
    const task = await newTask(deps, { agent: { llmModel: "label-on-retry:NEGATIVE" } });
    const m = marker();
    const execution = await executeTask(deps, { taskId: task.id, input: `hmm ${m}` });
    expect(execution).toMatchObject({ output: "negative", predictedLabel: "negative", pathReason: "no active model version: in-context LLM baseline" });
    expect(await llmRequests(m)).toHaveLength(2);
  });

  it("under the threshold, an LLM that names no label leaves the model's prediction as the answer", async () => {
    const { deps, accountId } = await newAccount();
    const task = await newTask(deps, { agent: { llmModel: "label:maybe" } });
    const stored = await storedAdaptation(accountId, task.id);
    const execution = await executeTask(
      deps,
      { taskId: task.id, input: "so-so" },
      predicting({ ...stored, label: "negative", confidence: 0.55, scores: [{ label: "negative", score: 0.55 }, { label: "positive", score: 0.45 }] }),
    );
    expect(execution).toMatchObject({ path: "model+llm", output: "negative", predictedLabel: "negative" });
    expect(execution.pathReason).toMatch(/< threshold 0.7; the LLM named none of the task's labels \(asked 2 times\): the model's prediction answers$/);
  });

  it("a task without a label list offers the labels of its examples; with none yet there is no answer and no LLM call", async () => {
    const { deps } = await newAccount();
    const open = await newTask(deps, { labels: [], examples: [{ input: "i lost my card", label: "lost_card" }, { input: "where is it", label: "card_arrival" }] });
    const m = marker();
    const execution = await executeTask(deps, { taskId: open.id, input: `my card was stolen, lost_card ${m}` });
    expect(execution.output).toBe("lost_card");
    const [request] = await llmRequests(m);
    const offered = (request!.body.response_format as { json_schema: { schema: { properties: { label: { enum: string[] } } } } }).json_schema.schema.properties.label.enum;
    expect([...offered].sort()).toEqual(["card_arrival", "lost_card"]);

    const empty = await newTask(deps, { labels: [], examples: [] });
    const n = marker();
    const none = await executeTask(deps, { taskId: empty.id, input: `anything ${n}` });
    expect(none).toMatchObject({ status: "succeeded", output: null, predictedLabel: null, llmModel: null });
    expect(none.pathReason).toMatch(/the task has no labels yet: no answer$/);
    expect(await llmRequests(n)).toHaveLength(0);
  });

  it("a generation task still gets the LLM's text", async () => {
    const { deps } = await newAccount();
    const task = await newTask(deps, { kind: "generation", labels: [], examples: [{ input: "hi", output: "Hello!" }] });
    const m = marker();
    const execution = await executeTask(deps, { taskId: task.id, input: `hey ${m}` });
    expect(execution.output).toBe(`echo: hey ${m}`);
    const [request] = await llmRequests(m);
    expect(request!.body.response_format).toBeUndefined();
  });
});

describe("executeTask without an LLM configured: degrade, do not fail", () => {
  it("a classification under the threshold answers with the model's prediction, and says why", async () => {
    const { deps, accountId } = await newAccount();
    const task = await newTask(deps);
    const stored = await storedAdaptation(accountId, task.id);
    const scores = [{ label: "negative", score: 0.55 }, { label: "positive", score: 0.45 }];
    const execution = await executeTask(
      withEnv(deps, { LLM_API_KEY: "" }),
      { taskId: task.id, input: "so bad" },
      predicting({ ...stored, label: "negative", confidence: 0.55, scores }),
    );
    expect(execution).toMatchObject({
      status: "succeeded", path: "model", output: "negative", predictedLabel: "negative", confidence: 0.55, scores,
      errorCode: null, llmModel: null, ...stored,
    });
    expect(execution.pathReason).toBe("confidence 0.550 < threshold 0.7 and no LLM is configured: the model's prediction answers");
  });

  it("a generation task truly needs the LLM: LLM_NOT_CONFIGURED, recorded as failed", async () => {
    const { deps, accountId } = await newAccount();
    const task = await newTask(deps, {
      kind: "generation",
      examples: [{ input: "my order is late", output: "Sorry, let me check the delivery for you." }],
    });
    const stored = await storedAdaptation(accountId, task.id);
    const error = await fail(executeTask(
      withEnv(deps, { LLM_API_KEY: "" }),
      { taskId: task.id, input: "write a reply" },
      predicting({ ...stored, label: "negative", confidence: 0.99, scores: [{ label: "negative", score: 0.99 }] }),
    ));
    expect(error.code).toBe("LLM_NOT_CONFIGURED");
    expect((await listExecutions(deps, task.id)).nodes[0]).toMatchObject({ status: "failed", errorCode: "LLM_NOT_CONFIGURED", path: "model+llm" });
  });
});
