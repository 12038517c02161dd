// The execute hot path against real D1 with the artifact active: how many D1 round trips a warm execute
// makes (no read and one guarded write batch when it starts a conversation), and that the isolate's
// caches never hide a write — made here or, as another isolate would, straight into D1 — from the next
// request.
import { env } from "cloudflare:workers";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { resilientDb } from "../../functions/d1";
import type { Deps } from "../../functions/deps";
import { executeTask } from "../../functions/executions";
import { resetModelCacheForTests } from "../../functions/model/loader";
import type { Prediction } from "../../functions/model/index";
import { supportExamples } from "../../functions/examples";
import { assembleSupport } from "../../functions/model/support";
import { getActiveModel, loadSupport, predictForTask, supportLoadCount } from "../../functions/predictions";
import { addExamples, updateTask } from "../../functions/taskSetup";
import { newAccount, newTask, withEnv } from "../support/fixtures";
import { deactivateAll, publishArtifact } from "./publish";

/** `db` that records every round trip: each batch, and each statement run on its own. */
function counting(db: D1Database): { db: D1Database; trips: string[] } {
  const trips: string[] = [];
  const real = new WeakMap<object, D1PreparedStatement>();
  const wrap = (statement: D1PreparedStatement, sql: string): D1PreparedStatement => {
    const wrapped = new Proxy(statement, {
      get(target, prop) {
        if (prop === "bind") return (...values: unknown[]) => wrap(target.bind(...values), sql);
        if (prop === "first" || prop === "all" || prop === "run" || prop === "raw") {
          return (...args: unknown[]) => {
            trips.push(`${prop}: ${sql.trim().slice(0, 40)}`);
            return (target[prop] as (...a: unknown[]) => unknown).apply(target, args);
          };
        }
        const value: unknown = Reflect.get(target, prop);
        return typeof value === "function" ? (value as (...a: unknown[]) => unknown).bind(target) : value;
      },
    });
    real.set(wrapped, statement);
    return wrapped;
  };
  const counted = new Proxy(db, {
    get(target, prop) {
      if (prop === "prepare") return (sql: string) => wrap(target.prepare(sql), sql);
      if (prop === "batch") {
        return (statements: D1PreparedStatement[]) => {
          trips.push(`batch of ${statements.length}`);
          return target.batch(statements.map((s) => real.get(s) ?? s));
        };
      }
      const value: unknown = Reflect.get(target, prop);
      return typeof value === "function" ? (value as (...a: unknown[]) => unknown).bind(target) : value;
    },
  });
  return { db: counted, trips };
}

function countingDeps(deps: Deps): { deps: Deps; trips: string[] } {
  const { db, trips } = counting(env.DB);
  return { deps: { ...withEnv(deps, { LLM_API_KEY: "" }), db: resilientDb(db) }, trips };
}

let version = "";
beforeAll(async () => {
  resetModelCacheForTests();
  version = await publishArtifact({ version: `hot-${crypto.randomUUID().slice(0, 8)}` });
});
afterAll(() => deactivateAll());

describe("a warm execute's D1 round trips", () => {
  it("no read and one guarded write batch; one read batch when it continues a conversation", async () => {
    const { deps: plain } = await newAccount();
    const task = await newTask(plain, { confidenceThreshold: 0 });
    const { deps, trips } = countingDeps(plain);
    const first = await executeTask(deps, { taskId: task.id, input: "I love it" }); // cold: load, adapt
    expect(first.path).toBe("model");

    trips.length = 0;
    const warm = await executeTask(deps, { taskId: task.id, input: "This is broken again" });
    expect(warm).toMatchObject({ status: "succeeded", path: "model", modelVersion: version });
    expect(trips).toEqual(["batch of 5"]); // the guard; conversation + execution + 2 messages

    trips.length = 0;
    const next = await executeTask(deps, { taskId: task.id, input: "Really great", conversationId: warm.conversationId });
    expect(next.conversationId).toBe(warm.conversationId);
    expect(trips).toEqual(["batch of 5", "batch of 4"]); // task + model version + agent + the conversation and its recent messages; the turn
  });

  it("a change another isolate made straight in D1 aborts the guarded write (nothing written) and is answered from a fresh read", async () => {
    const { deps: plain, accountId } = await newAccount();
    const task = await newTask(plain, { confidenceThreshold: 1 });
    const { deps, trips } = countingDeps(plain);
    expect((await executeTask(deps, { taskId: task.id, input: "I love it" })).pathReason).toMatch(/< threshold 1 /);
    const count = async () => (await env.DB.prepare("SELECT COUNT(*) AS n FROM executions WHERE task_id = ?").bind(task.id).first<{ n: number }>())!.n;
    const conversations = async () => (await env.DB.prepare("SELECT COUNT(*) AS n FROM conversations WHERE task_id = ?").bind(task.id).first<{ n: number }>())!.n;

    // the task's threshold, as updateTask writes it in another isolate
    await env.DB.prepare("UPDATE tasks SET confidence_threshold = 0, version = version + 1 WHERE id = ? AND account_id = ?").bind(task.id, accountId).run();
    trips.length = 0;
    const after = await executeTask(deps, { taskId: task.id, input: "I love it" });
    expect(after.pathReason).toMatch(/>= threshold 0$/);
    expect(trips).toEqual(["batch of 5", "batch of 3", "batch of 4"]); // guarded write refused; read; write
    expect(await count()).toBe(2);
    expect(await conversations()).toBe(2); // the refused batch left no conversation behind

    // the agent, as updateAgent writes it: the next execute reads again
    await env.DB.prepare("UPDATE agents SET instructions = 'Be brief.', version = version + 1 WHERE id = ?").bind(task.agentId).run();
    trips.length = 0;
    await executeTask(deps, { taskId: task.id, input: "I love it" });
    expect(trips).toEqual(["batch of 5", "batch of 3", "batch of 4"]);

    // and with nothing changed, no read again
    trips.length = 0;
    await executeTask(deps, { taskId: task.id, input: "I love it" });
    expect(trips).toEqual(["batch of 5"]);
    expect(await count()).toBe(4);
  });

  it("a task deleted meanwhile is NOT_FOUND and nothing is written", async () => {
    const { deps: plain, accountId } = await newAccount();
    const task = await newTask(plain, { confidenceThreshold: 0 });
    const deps = withEnv(plain, { LLM_API_KEY: "" });
    await executeTask(deps, { taskId: task.id, input: "I love it" });
    await env.DB.prepare("DELETE FROM tasks WHERE id = ? AND account_id = ?").bind(task.id, accountId).run();
    await expect(executeTask(deps, { taskId: task.id, input: "I love it" })).rejects.toMatchObject({ code: "NOT_FOUND" });
    const left = await env.DB.prepare("SELECT COUNT(*) AS n FROM executions WHERE task_id = ?").bind(task.id).first();
    expect(left).toEqual({ n: 0 });
  });

  it("returns the Execution it wrote, equal to the row read back", async () => {
    const { deps } = await newAccount();
    const task = await newTask(deps, { confidenceThreshold: 0 });
    const execution = await executeTask(withEnv(deps, { LLM_API_KEY: "" }), { taskId: task.id, input: "I love it" });
    const stored = await env.DB.prepare("SELECT id, output, predicted_label, confidence, adaptation_id FROM executions WHERE id = ?")
      .bind(execution.id).first();
    expect(stored).toEqual({
      id: execution.id, output: execution.output, predicted_label: execution.predictedLabel,
      confidence: execution.confidence, adaptation_id: execution.adaptationId,
    });
  });
});

describe("the isolate's caches never serve a stale task, support set or adaptation", () => {
  it("sees examples another isolate adds or removes straight in D1 (examples_version bumped with them)", async () => {
    const { deps, accountId } = await newAccount();
    const task = await newTask(deps, { labels: ["positive", "negative", "other"] });
    const before = (await predictForTask(deps, task.id, "what time do you open?")) as Prediction;
    expect(before.scores.map((s) => s.label).sort()).toEqual(["negative", "positive"]);
    expect((await predictForTask(deps, task.id, "what time do you open?")) as Prediction).toMatchObject({ adaptationId: before.adaptationId });

    const id = crypto.randomUUID();
    const bump = env.DB.prepare("UPDATE tasks SET examples_version = examples_version + 1 WHERE id = ?").bind(task.id);
    await env.DB.batch([
      env.DB.prepare("INSERT INTO examples (id, account_id, task_id, input, label, source) VALUES (?, ?, ?, ?, 'other', 'user')")
        .bind(id, accountId, task.id, "What are your opening hours?"),
      bump,
    ]);
    const added = (await predictForTask(deps, task.id, "what time do you open?")) as Prediction;
    expect(added.scores.map((s) => s.label).sort()).toEqual(["negative", "other", "positive"]);
    expect(added.demonstrations.map((d) => d.exampleId)).toContain(id);
    expect(added.adaptationId).not.toBe(before.adaptationId);

    await env.DB.batch([env.DB.prepare("DELETE FROM examples WHERE id = ?").bind(id), bump]);
    const removed = (await predictForTask(deps, task.id, "what time do you open?")) as Prediction;
    expect(removed.scores.map((s) => s.label).sort()).toEqual(["negative", "positive"]);
    expect(removed.demonstrations.map((d) => d.exampleId)).not.toContain(id);
  });

  it("the next execute after a changed task uses the change", async () => {
    const { deps } = await newAccount();
    const task = await newTask(deps, { confidenceThreshold: 1 });
    const noLlm = withEnv(deps, { LLM_API_KEY: "" });
    expect((await executeTask(noLlm, { taskId: task.id, input: "I love it" })).pathReason).toMatch(/< threshold 1 /);
    await updateTask(deps, task.id, { confidenceThreshold: 0 });
    expect((await executeTask(noLlm, { taskId: task.id, input: "I love it" })).pathReason).toMatch(/>= threshold 0$/);
  });

  it("the next execute after another version is activated is answered by it", async () => {
    const { deps } = await newAccount();
    const task = await newTask(deps, { confidenceThreshold: 0 });
    const noLlm = withEnv(deps, { LLM_API_KEY: "" });
    expect((await executeTask(noLlm, { taskId: task.id, input: "I love it" })).modelVersion).toBe(version);
    const other = await publishArtifact({ version: `hot-b-${crypto.randomUUID().slice(0, 8)}` });
    try {
      const after = await executeTask(noLlm, { taskId: task.id, input: "I love it" });
      expect(after.modelVersion).toBe(other);
      const adaptation = await env.DB.prepare("SELECT model_version FROM adaptations WHERE id = ?").bind(after.adaptationId).first();
      expect(adaptation).toEqual({ model_version: other });
    } finally {
      await publishArtifact({ version, activate: true });
    }
  });
});

describe("a large or changing support set is loaded once, and only its new rows' features are read", () => {
  it("concurrent requests after a version switch share one load (one featurisation and store of the set)", async () => {
    const { deps } = await newAccount();
    const task = await newTask(deps, { confidenceThreshold: 0 });
    const noLlm = withEnv(deps, { LLM_API_KEY: "" });
    await predictForTask(noLlm, task.id, "I love it");
    const other = await publishArtifact({ version: `hot-c-${crypto.randomUUID().slice(0, 8)}` });
    try {
      const before = supportLoadCount();
      const answers = await Promise.all(Array.from({ length: 6 }, () => predictForTask(noLlm, task.id, "This is broken again")));
      expect(supportLoadCount() - before).toBe(1);
      const adaptationIds = new Set(answers.map((a) => (a as Prediction).adaptationId));
      expect(adaptationIds.size).toBe(1);
      const stored = await env.DB.prepare("SELECT COUNT(*) AS n FROM adaptations WHERE task_id = ? AND model_version = ?").bind(task.id, other).first();
      expect(stored).toEqual({ n: 1 });
    } finally {
      await publishArtifact({ version, activate: true });
    }
  });

  it("after examples are added, reads the features of the new rows only, and the set equals a full read", async () => {
    const { deps: plain, accountId } = await newAccount();
    const task = await newTask(plain, { confidenceThreshold: 0 });
    await predictForTask(plain, task.id, "I love it"); // the support set is cached
    await addExamples(plain, task.id, [{ input: "Absolutely wonderful service", label: "positive" }]); // features stored on insert
    const bare = crypto.randomUUID(); // one without stored features, as a row written by an older isolate could be
    await env.DB.batch([
      env.DB.prepare("INSERT INTO examples (id, account_id, task_id, input, label, source) VALUES (?, ?, ?, ?, 'negative', 'user')")
        .bind(bare, accountId, task.id, "It broke on the first day"),
      env.DB.prepare("UPDATE tasks SET examples_version = examples_version + 1 WHERE id = ?").bind(task.id),
    ]);

    const { deps, trips } = countingDeps(plain);
    const model = (await getActiveModel(deps))!;
    trips.length = 0;
    const support = await loadSupport(deps, model, task.id);
    expect(trips).toEqual([
      "first: SELECT * FROM tasks WHERE id = ? AND acc", // examples_version
      "all: SELECT id, input, label, output FROM exa", // the rows, without features
      "batch of 1", // the two new rows' features, one chunk
      "batch of 1", // the bare row's features, featurised now and stored
    ]);

    const full = (await assembleSupport(model, await supportExamples(deps, task.id))).support;
    expect(support.ids).toEqual(full.ids);
    expect(support.labels).toEqual(full.labels);
    expect(support.fingerprint).toBe(full.fingerprint);
    expect(Array.from(support.features)).toEqual(Array.from(full.features));
    const row = await env.DB.prepare("SELECT embedding_model_version AS v FROM examples WHERE id = ?").bind(bare).first();
    expect(row).toEqual({ v: model.version }); // the bare row was featurised and stored
  });
});
