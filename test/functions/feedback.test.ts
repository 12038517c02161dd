import { createExecutionContext, createScheduledController, waitOnExecutionContext } from "cloudflare:test";
import { env } from "cloudflare:workers";
import { describe, expect, it, vi } from "vitest";
import { AppError } from "../../functions/errors";
import { listExamples } from "../../functions/examples";
import { executeTask } from "../../functions/executions";
import { listFeedback, submitFeedback } from "../../functions/feedback";
import { exportFeedback, type FeedbackExportRecord } from "../../functions/feedbackExport";
import worker from "../../workers/index";
import { addExamples } from "../../functions/taskSetup";
import { call, newAccount, newTask } from "../support/fixtures";

const fail = async (p: Promise<unknown>) => (await p.then(() => null, (e: unknown) => e)) as AppError;

async function executed() {
  const account = await newAccount();
  const task = await newTask(account.deps);
  const execution = await executeTask(account.deps, { taskId: task.id, input: "the app crashes on login" });
  return { ...account, task, execution };
}

async function readJsonl(key: string): Promise<FeedbackExportRecord[]> {
  const object = await env.MODELS.get(key);
  expect(object).not.toBeNull();
  return (await object!.text()).trim().split("\n").map((line) => JSON.parse(line) as FeedbackExportRecord);
}

describe("submitFeedback", () => {
  it("a rating alone is stored without a new example", async () => {
    const { deps, task, execution } = await executed();
    const feedback = await submitFeedback(deps, { executionId: execution.id, rating: 1, comment: "spot on" });
    expect(feedback).toMatchObject({ rating: 1, comment: "spot on", exampleId: null, exportedAt: null, taskId: task.id });
    expect((await listExamples(deps, task.id)).nodes).toHaveLength(4);
    expect((await listFeedback(deps, task.id)).nodes.map((f) => f.id)).toEqual([feedback.id]);
  });

  it("a correction becomes an example of the task (source 'feedback')", async () => {
    const { deps, task, execution } = await executed();
    const feedback = await submitFeedback(deps, { executionId: execution.id, rating: -1, correctedLabel: "negative" });
    const examples = (await listExamples(deps, task.id)).nodes;
    const created = examples.find((e) => e.id === feedback.exampleId);
    expect(created).toMatchObject({ input: "the app crashes on login", label: "negative", source: "feedback" });
  });

  it("validates the correction against the task and the input shape", async () => {
    const { deps, accountId, execution } = await executed();
    const wrong = await fail(submitFeedback(deps, { executionId: execution.id, correctedLabel: "maybe" }));
    expect(wrong.issues[0]?.path).toBe("correctedLabel");
    const outputOnly = await fail(submitFeedback(deps, { executionId: execution.id, correctedOutput: "text" }));
    expect(outputOnly.issues[0]?.path).toBe("correctedLabel");
    expect((await fail(submitFeedback(deps, { executionId: execution.id }))).code).toBe("VALIDATION_FAILED");
    expect((await fail(submitFeedback(deps, { executionId: execution.id, rating: 2 as 1 }))).code).toBe("VALIDATION_FAILED");
    expect((await fail(submitFeedback(deps, { executionId: "missing", rating: 1 }))).code).toBe("NOT_FOUND");
    const rows = await env.DB.prepare("SELECT COUNT(*) AS n FROM feedback WHERE account_id = ?").bind(accountId).first<{ n: number }>();
    expect(rows!.n).toBe(0);
  });

  it("generation tasks are corrected with an output", async () => {
    const { deps } = await newAccount();
    const task = await newTask(deps, { kind: "generation", labels: [], examples: [{ input: "hi", output: "Hello!" }] });
    const execution = await executeTask(deps, { taskId: task.id, input: "hey" });
    const feedback = await submitFeedback(deps, { executionId: execution.id, correctedOutput: "Hey there!" });
    expect((await listExamples(deps, task.id)).nodes.find((e) => e.id === feedback.exampleId)?.output).toBe("Hey there!");
    expect((await fail(submitFeedback(deps, { executionId: execution.id, correctedLabel: "x" }))).issues[0]?.path).toBe("correctedOutput");
  });

  it("on a task without a label list, corrections fold case, count against the 200-label cap and refuse invisible characters", async () => {
    const { deps } = await newAccount();
    const task = await newTask(deps, { labels: [], examples: [{ input: "i lost my card", label: "lost_card" }] });
    const execution = await executeTask(deps, { taskId: task.id, input: "where is my card" });
    for (const correctedLabel of ["LOST_CARD", "Lost_Card", "lost_card", "\uff4c\uff4f\uff53\uff54_card"]) {
      const feedback = await submitFeedback(deps, { executionId: execution.id, correctedLabel });
      expect(feedback.correctedLabel).toBe("lost_card");
    }
    const invisible = await fail(submitFeedback(deps, { executionId: execution.id, correctedLabel: "lost\u200b_card" }));
    expect(invisible.issues[0]).toMatchObject({ path: "correctedLabel", message: expect.stringContaining("U+200B") });
    // Fill the task to 200 distinct labels; a correction naming a 201st is refused, one naming a stored label is not.
    await addExamples(deps, task.id, Array.from({ length: 199 }, (_, i) => ({ input: `text ${i}`, label: `label-${i}` })));
    const over = await fail(submitFeedback(deps, { executionId: execution.id, correctedLabel: "brand_new" }));
    expect(over.code).toBe("VALIDATION_FAILED");
    expect(over.issues[0]).toMatchObject({ path: "correctedLabel", message: expect.stringContaining("at most 200 distinct labels") });
    expect((await submitFeedback(deps, { executionId: execution.id, correctedLabel: "LABEL-7" })).correctedLabel).toBe("label-7");
    const labels = await env.DB.prepare("SELECT COUNT(DISTINCT label) AS n FROM examples WHERE task_id = ?").bind(task.id).first<{ n: number }>();
    expect(labels!.n).toBe(200);
  });

  it("concurrent corrections naming new labels cannot take a task past 200 labels (POST /feedback)", async () => {
    const account = await newAccount();
    const task = await newTask(account.deps, { labels: [], examples: [{ input: "seed", label: "seed" }] });
    await addExamples(account.deps, task.id, Array.from({ length: 195 }, (_, i) => ({ input: `text ${i}`, label: `label-${i}` })));
    const execution = await executeTask(account.deps, { taskId: task.id, input: "something new" });
    const answers = await Promise.all(Array.from({ length: 12 }, (_, i) =>
      call("/feedback", { headers: account.headers, body: { executionId: execution.id, correctedLabel: `new-${i % 6}` } })));
    for (const a of answers) expect([201, 200, 400, 409]).toContain(a.status);
    const labels = await env.DB.prepare("SELECT COUNT(DISTINCT label) AS n FROM examples WHERE task_id = ?").bind(task.id).first<{ n: number }>();
    expect(labels!.n).toBe(200);
  });
});

describe("feedback export (scheduled)", () => {
  it("writes unexported feedback to R2 as JSONL and marks it exported, once", async () => {
    const { deps, task, execution } = await executed();
    const a = await submitFeedback(deps, { executionId: execution.id, rating: -1, correctedLabel: "negative" });
    const b = await submitFeedback(deps, { executionId: execution.id, rating: 1 });
    const now = new Date("2031-01-02T03:04:05.678Z");
    const result = await exportFeedback(env.DB, env.MODELS, now);
    expect(result.key).toMatch(/^feedback\/2031-01-02T03:04:05\.678Z-[0-9a-f-]{36}\.jsonl$/);
    const records = await readJsonl(result.key!);
    expect(records.length).toBe(result.count);
    const mine = records.filter((r) => r.taskId === task.id);
    expect(mine).toEqual([
      {
        feedbackId: a.id, taskId: task.id, executionId: execution.id, taskKind: "classification", taskLabels: ["positive", "negative"],
        text: "the app crashes on login", output: execution.output, predictedLabel: execution.predictedLabel, rating: -1,
        correctedLabel: "negative", correctedOutput: null, modelVersion: null, createdAt: a.createdAt,
      },
      expect.objectContaining({ feedbackId: b.id, rating: 1, correctedLabel: null }),
    ]);
    expect((await listFeedback(deps, task.id)).nodes.map((f) => f.exportedAt)).toEqual([now.toISOString(), now.toISOString()]);
    const again = await exportFeedback(env.DB, env.MODELS, new Date("2031-01-02T03:05:00.000Z"));
    const reexported = again.key ? (await readJsonl(again.key)).filter((r) => r.taskId === task.id) : [];
    expect(reexported).toEqual([]);
  });

  it("two runs for the same scheduled time write two objects: the first export is never overwritten", async () => {
    const { deps, task, execution } = await executed();
    const first = await submitFeedback(deps, { executionId: execution.id, rating: 1 });
    const at = new Date("2033-03-03T03:03:03.000Z");
    const one = await exportFeedback(env.DB, env.MODELS, at);
    const second = await submitFeedback(deps, { executionId: execution.id, rating: -1 });
    const two = await exportFeedback(env.DB, env.MODELS, at);
    expect(one.key).not.toBe(two.key);
    const ids = [...(await readJsonl(one.key!)), ...(await readJsonl(two.key!))].filter((r) => r.taskId === task.id).map((r) => r.feedbackId);
    expect(ids.sort()).toEqual([first.id, second.id].sort());
  });

  it("runs from the Worker's scheduled handler", async () => {
    const { deps, task, execution } = await executed();
    const feedback = await submitFeedback(deps, { executionId: execution.id, correctedLabel: "negative" });
    const scheduledTime = Date.parse("2032-05-06T07:08:09.000Z");
    const ctx = createExecutionContext();
    await worker.scheduled(createScheduledController({ scheduledTime, cron: "*/15 * * * *" }), env, ctx);
    await waitOnExecutionContext(ctx);
    const listed = await env.MODELS.list({ prefix: "feedback/2032-05-06T07:08:09.000Z-" });
    const records = (await Promise.all(listed.objects.map((o) => readJsonl(o.key)))).flat();
    expect(records.map((r) => r.feedbackId)).toContain(feedback.id);
    expect((await listFeedback(deps, task.id)).nodes[0]?.exportedAt).toBe("2032-05-06T07:08:09.000Z");
  });

  it("a failing job logs which job failed and why, and the other jobs still run", async () => {
    const { deps, execution } = await executed();
    await submitFeedback(deps, { executionId: execution.id, rating: 1 });
    // An R2 bucket that refuses the feedback export's write only: the other jobs see the real one.
    const models = new Proxy(env.MODELS, {
      get(target, prop) {
        if (prop === "put") {
          return (key: string, ...rest: unknown[]) => key.startsWith("feedback/")
            ? Promise.reject(new Error("R2 put refused (test)"))
            : (target.put as (...a: unknown[]) => unknown)(key, ...rest);
        }
        const value = Reflect.get(target, prop) as unknown;
        return typeof value === "function" ? (value as (...a: unknown[]) => unknown).bind(target) : value;
      },
    });
    const errors = vi.spyOn(console, "error").mockImplementation(() => {});
    const logs = vi.spyOn(console, "log");
    try {
      const scheduledTime = Date.parse("2034-01-01T00:15:00.000Z");
      const ctx = createExecutionContext();
      const run = worker.scheduled(createScheduledController({ scheduledTime, cron: "*/15 * * * *" }), { ...env, MODELS: models }, ctx);
      await expect(run).rejects.toThrow("scheduled jobs failed: feedback_export");
      await waitOnExecutionContext(ctx);
      const failures = errors.mock.calls.map(([line]) => JSON.parse(String(line)) as Record<string, unknown>)
        .filter((e) => e.event === "scheduled_job_failed");
      expect(failures).toEqual([expect.objectContaining({
        job: "feedback_export", cron: "*/15 * * * *", scheduledTime: "2034-01-01T00:15:00.000Z",
        error: "R2 put refused (test)", errorName: "Error", stack: expect.stringContaining("R2 put refused"),
      })]);
      // The job after it ran: the account-texts export logs its summary.
      const events = logs.mock.calls.map(([line]) => { try { return (JSON.parse(String(line)) as { event?: string }).event; } catch { return null; } });
      expect(events).toContain("account_texts_export");
    } finally {
      errors.mockRestore();
      logs.mockRestore();
    }
  });
});
