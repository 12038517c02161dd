// End to end through the domain functions with the artifact active: features stored when examples are
// added, adaptation cached and redone, executions answering from the model alone when confident, a
// feedback correction changing the prediction, and accuracy on a real few-shot task matching Python.
import { env } from "cloudflare:workers";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { getLatestAdaptation, listAdaptations } from "../../functions/adaptations";
import { removeExample } from "../../functions/examples";
import { addExamples } from "../../functions/taskSetup";
import { executeTask } from "../../functions/executions";
import { submitFeedback } from "../../functions/feedback";
import type { Prediction } from "../../functions/model/index";
import { adaptationCacheSize, adaptTask, predictForTask } from "../../functions/predictions";
import { resetModelCacheForTests } from "../../functions/model/loader";
import { newAccount, newTask, withEnv } from "../support/fixtures";
import { SHIPPED } from "./artifact-server";
import { artifactManifest, deactivateAll, publishArtifact } from "./publish";

interface Fixture {
  setting: { ways: number; shots: number; query: number; model_version: string };
  support: { text: string; label: string }[];
  query: { text: string; label: string }[];
  labels: string[];
  accuracy: number;
  prototypes_accuracy: number;
}

async function fixture(set: string, ways: number, shots: number): Promise<Fixture> {
  const res = await env.TEST_ARTIFACTS.fetch(`http://artifacts/fixture/${env.TEST_ARTIFACT}/${set}?ways=${ways}&shots=${shots}&seed=0`);
  if (!res.ok) throw new Error(`fixture: ${res.status} ${await res.text()}`);
  return res.json();
}

let version = "";
beforeAll(async () => {
  resetModelCacheForTests();
  version = await publishArtifact({ version: `exec-${crypto.randomUUID().slice(0, 8)}` });
});
afterAll(() => deactivateAll());

describe("examples, adaptations and executions with the model active", () => {
  it("stores features when examples are added and re-embeds lazily after a version switch", async () => {
    const { deps } = await newAccount();
    const task = await newTask(deps);
    const rows = await env.DB.prepare("SELECT length(embedding) AS bytes, embedding_model_version AS v FROM examples WHERE task_id = ?")
      .bind(task.id).all<{ bytes: number; v: string }>();
    expect(rows.results.length).toBe(4);
    const features = (await artifactManifest()).features;
    for (const r of rows.results) expect(r).toEqual({ bytes: features * 4, v: version });

    const other = await publishArtifact({ version: `exec-b-${crypto.randomUUID().slice(0, 8)}` });
    try {
      await predictForTask(deps, task.id, "I love it");
      const after = await env.DB.prepare("SELECT DISTINCT embedding_model_version AS v FROM examples WHERE task_id = ?")
        .bind(task.id).all<{ v: string }>();
      expect(after.results).toEqual([{ v: other }]);
    } finally {
      await publishArtifact({ version, activate: true }).catch(() => undefined);
    }
  });

  it("adapts once per support set and redoes it when examples change", async () => {
    const { deps } = await newAccount();
    const task = await newTask(deps);
    const first = await adaptTask(deps, task.id);
    expect(first).toMatchObject({ modelVersion: version, supportSize: 4, labels: ["negative", "positive"] });
    expect(first.id).toMatch(/^[0-9a-f]{8}-[0-9a-f]{4}-7[0-9a-f]{3}-[89ab]/); // a UUIDv7 from functions/ids.ts
    expect(first.durationMs).toBeGreaterThanOrEqual(0);
    expect((await adaptTask(deps, task.id)).id).toBe(first.id); // unchanged: cached
    await addExamples(deps, task.id, [{ input: "Really great, thanks a lot", label: "positive" }]);
    const second = await adaptTask(deps, task.id);
    expect(second.id).not.toBe(first.id);
    expect(second.supportSize).toBe(5);
    expect(second.supportFingerprint).not.toBe(first.supportFingerprint);
    expect((await getLatestAdaptation(deps, task.id))?.id).toBe(second.id);
    expect((await listAdaptations(deps, task.id)).nodes.map((a) => a.id).sort()).toEqual([first.id, second.id].sort());
  });

  it("keeps one cached adaptation per task however often its support changes", async () => {
    const { deps } = await newAccount();
    const task = await newTask(deps);
    await predictForTask(deps, task.id, "I love it");
    const held = adaptationCacheSize();
    const ids = new Set<string>();
    for (let i = 0; i < 6; i++) {
      await addExamples(deps, task.id, [{ input: `Lovely, number ${i}`, label: "positive" }]);
      ids.add(((await predictForTask(deps, task.id, "I love it")) as Prediction).adaptationId!);
    }
    expect(ids.size).toBe(6); // re-adapted after every change
    expect(adaptationCacheSize()).toBe(held); // ... each replacing the task's entry, none added beside it
  });

  it("a task without examples, with a model active, says that it has no example (not that no model is active)", async () => {
    const { deps } = await newAccount();
    const task = await newTask(deps, { examples: [] });
    expect(await predictForTask(deps, task.id, "hello")).toEqual({ none: "no_examples" });
    const execution = await executeTask(deps, { taskId: task.id, input: "hello" });
    expect(execution).toMatchObject({ path: "llm_baseline", pathReason: "the task has no labelled example yet: in-context LLM baseline" });
  });

  it("without an LLM, a prediction under the threshold still answers (path model)", async () => {
    const { deps } = await newAccount();
    const task = await newTask(deps, { confidenceThreshold: 1 }); // nothing is confident enough
    const execution = await executeTask(withEnv(deps, { LLM_API_KEY: "" }), { taskId: task.id, input: "I love it" });
    expect(execution).toMatchObject({ status: "succeeded", path: "model", modelVersion: version, llmModel: null });
    expect(["positive", "negative"]).toContain(execution.output);
    expect(execution.output).toBe(execution.predictedLabel);
    expect(execution.pathReason).toMatch(/< threshold 1 and no LLM is configured/);
  });

  it("sees the change after 'remove the newest example, add another' (SQLite reuses the freed rowid)", async () => {
    const { deps } = await newAccount();
    const task = await newTask(deps, { labels: ["positive", "negative", "other"] });
    const before = (await predictForTask(deps, task.id, "what time do you open?")) as Prediction;
    expect(before.scores.map((s) => s.label).sort()).toEqual(["negative", "positive"]);
    const newest = await env.DB.prepare("SELECT id FROM examples WHERE task_id = ? ORDER BY rowid DESC LIMIT 1").bind(task.id).first<{ id: string }>();
    await removeExample(deps, newest!.id);
    const [added] = await addExamples(deps, task.id, [{ input: "What are your opening hours?", label: "other" }]);
    const after = (await predictForTask(deps, task.id, "what time do you open?")) as Prediction;
    expect(after.scores.map((s) => s.label).sort()).toEqual(["negative", "other", "positive"]);
    expect(after.demonstrations.map((d) => d.exampleId)).not.toContain(newest!.id);
    expect(after.demonstrations.map((d) => d.exampleId)).toContain(added!.id);
    expect(after.adaptationId).not.toBe(before.adaptationId);
  });

  it("a task with fewer than two labels cannot be adapted (typed error)", async () => {
    const { deps } = await newAccount();
    const task = await newTask(deps, { labels: ["only"], examples: [{ input: "hello", label: "only" }] });
    await expect(adaptTask(deps, task.id)).rejects.toMatchObject({ code: "VALIDATION_FAILED" });
  });
});

describe("a real few-shot task: banking77, 10 labels x 5 shots from train_5, scored on test", async () => {
  const data = await fixture("banking77", 10, 5);

  it("reaches the accuracy the Python reference computes for the same episode and artifact", async () => {
    const { deps } = await newAccount();
    const task = await newTask(deps, {
      name: "Banking intents", labels: data.labels, confidenceThreshold: 0,
      examples: data.support.map((s) => ({ input: s.text, label: s.label })),
    });
    let correct = 0;
    for (const q of data.query) if ((await predictForTask(deps, task.id, q.text) as Prediction).label === q.label) correct += 1;
    const accuracy = correct / data.query.length;
    console.log(JSON.stringify({ edge: accuracy, python: data.accuracy, prototypes: data.prototypes_accuracy, query: data.query.length }));
    // Same artifact, same episode: only float rounding may flip a near-tie.
    expect(Math.abs(accuracy - data.accuracy)).toBeLessThanOrEqual(0.01);
    expect(accuracy).toBeGreaterThan(1.5 / data.labels.length); // well above chance
  });

  it("answers a confident classification from the model alone, and a correction changes the prediction", async () => {
    const { deps } = await newAccount();
    const task = await newTask(deps, {
      name: "Banking intents", labels: data.labels, confidenceThreshold: 0,
      examples: data.support.map((s) => ({ input: s.text, label: s.label })),
    });
    // The first test query the adapted model gets wrong.
    let wrong: { text: string; label: string } | null = null;
    for (const q of data.query) {
      if ((await predictForTask(deps, task.id, q.text) as Prediction).label !== q.label) {
        wrong = q;
        break;
      }
    }
    expect(wrong).not.toBeNull();
    const before = await executeTask(deps, { taskId: task.id, input: wrong!.text });
    expect(before).toMatchObject({ path: "model", modelVersion: version, status: "succeeded" });
    expect(before.predictedLabel).not.toBe(wrong!.label);
    expect(before.adaptationId).toBeTruthy();

    await submitFeedback(deps, { executionId: before.id, correctedLabel: wrong!.label });
    const after = await executeTask(deps, { taskId: task.id, input: wrong!.text });
    expect(after.predictedLabel).toBe(wrong!.label);
    expect(after.adaptationId).not.toBe(before.adaptationId);
    expect(after.demonstrations[0]?.similarity).toBeGreaterThan(0.999); // the correction itself is retrieved
  });
});

describe("confidence that knows when an input belongs to none of the labels (the shipped, calibrated artifact)", () => {
  let shipped = "";
  beforeAll(async () => {
    shipped = await publishArtifact({ artifact: SHIPPED, version: `cal-${crypto.randomUUID().slice(0, 8)}` });
  });
  afterAll(() => publishArtifact({ version, activate: true }));

  const examples = [
    { input: "when will my card arrive?", label: "card_arrival" }, { input: "my card hasn't come yet", label: "card_arrival" },
    { input: "how long does delivery of a new card take", label: "card_arrival" },
    { input: "i lost my card", label: "lost_card" }, { input: "my card was stolen yesterday", label: "lost_card" },
    { input: "I can't find my card anywhere", label: "lost_card" },
  ];

  it("answers an input like the examples from the model, and sends an unrelated one to the LLM", async () => {
    expect((await artifactManifest(SHIPPED)).calibration).toMatchObject({ kind: "nearest-similarity" });
    const { deps } = await newAccount();
    const task = await newTask(deps, { name: "Cards", labels: ["card_arrival", "lost_card"], examples });
    const inScope = await executeTask(deps, { taskId: task.id, input: "still waiting on my new card" });
    expect(inScope).toMatchObject({ path: "model", predictedLabel: "card_arrival", modelVersion: shipped });
    expect(inScope.confidence).toBeGreaterThanOrEqual(task.confidenceThreshold);

    const unrelated = (await predictForTask(deps, task.id, "what will the weather be like in Paris tomorrow")) as Prediction;
    // The softmax still picks a winner; the reported confidence says the input is like no example.
    expect(unrelated.confidence).toBeLessThan(task.confidenceThreshold);
    expect(unrelated.confidence).toBeLessThan(unrelated.scores[0]!.score);
    const routed = await executeTask(deps, { taskId: task.id, input: "what will the weather be like in Paris tomorrow" });
    expect(routed.path).toBe("model+llm");
    expect(routed.pathReason).toMatch(/< threshold 0.7/);
  });

  it("an artifact without calibration reports the plain winning probability", async () => {
    const plain = await publishArtifact({ artifact: SHIPPED, version: `plain-${crypto.randomUUID().slice(0, 8)}`, manifest: (m) => void delete m.calibration });
    try {
      const { deps } = await newAccount();
      const task = await newTask(deps, { name: "Cards", labels: ["card_arrival", "lost_card"], examples });
      const p = (await predictForTask(deps, task.id, "what will the weather be like in Paris tomorrow")) as Prediction;
      expect(p.modelVersion).toBe(plain);
      expect(p.confidence).toBe(p.scores[0]!.score);
    } finally {
      await publishArtifact({ artifact: SHIPPED, version: shipped, activate: true });
    }
  });
});

