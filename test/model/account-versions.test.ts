// An account's own ModelVersion with real models: the test artifact as the global version, and the same
// artifact with another token table (what training/account_encoder.py changes) as one account's version.
// Loaded side by side in onnxruntime-web from the local R2; the account is served by its own, every
// other account by the global one; the graphs both manifests share are loaded once; the promotion gate
// judges an account's version on that account's tasks alone.
import { env } from "cloudflare:workers";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { currentVersions, loaderStats, MAX_ACCOUNT_MODELS, resetModelCacheForTests } from "../../functions/model/loader";
import type { Prediction } from "../../functions/model/index";
import { deactivateModelVersion, getModelVersion } from "../../functions/modelVersions";
import { predictForTask } from "../../functions/predictions";
import { runPromotionGate } from "../../functions/promotionGate";
import { newAccount, newTask } from "../support/fixtures";
import { deactivateAll, publishArtifact } from "./publish";

const name = (what: string) => `acct-${what}-${crypto.randomUUID().slice(0, 8)}`;
/** Another table of the same shape: every int8 entry negated (what a re-tuning changes is the table). */
const negated = (bytes: Uint8Array<ArrayBuffer>) => bytes.map((b) => (256 - b) & 0xff);
const otherTable = { "static_table.i8": negated };

const prediction = async (deps: Parameters<typeof predictForTask>[0], taskId: string, input: string) => {
  const outcome = await predictForTask(deps, taskId, input);
  expect(outcome).toHaveProperty("label");
  return outcome as Prediction;
};

let global = "";
beforeAll(async () => {
  resetModelCacheForTests();
  global = await publishArtifact({ version: name("global") });
});
afterAll(() => deactivateAll());

describe("an account's own version", () => {
  it("serves that account only, beside the global version, sharing every graph both manifests list", async () => {
    const [a, b] = [await newAccount(), await newAccount()];
    const [taskA, taskB] = [await newTask(a.deps), await newTask(b.deps)];
    const before = await prediction(a.deps, taskA.id, "I love it");
    expect(before.modelVersion).toBe(global);
    const created = loaderStats.sessionsCreated;
    const shared = loaderStats.partsShared;

    const own = await publishArtifact({ version: name("own"), accountId: a.accountId, rewrite: otherTable });
    const mine = await prediction(a.deps, taskA.id, "I love it");
    expect(mine.modelVersion).toBe(own);
    expect((await prediction(b.deps, taskB.id, "I love it")).modelVersion).toBe(global);
    expect(currentVersions()).toMatchObject({ "": global, [a.accountId]: own });
    // The table differs, so the features do: the same input scores differently under the two versions.
    expect(mine.scores.map((s) => s.score)).not.toEqual(before.scores.map((s) => s.score));
    // No new ONNX session: every graph of the account's version is the global one's (same sha256).
    expect(loaderStats.sessionsCreated).toBe(created);
    expect(loaderStats.partsShared).toBeGreaterThan(shared);
    const adaptation = await env.DB.prepare("SELECT model_version AS v FROM adaptations WHERE task_id = ? ORDER BY created_at DESC LIMIT 1")
      .bind(taskA.id).first<{ v: string }>();
    expect(adaptation?.v).toBe(own);

    // Deactivated: the next request is served by the global version again.
    const admin = await newAccount({ isAdmin: true });
    await deactivateModelVersion(admin.deps, admin.auth, own);
    expect((await prediction(a.deps, taskA.id, "I love it")).modelVersion).toBe(global);
  });

  it("keeps at most MAX_ACCOUNT_MODELS account versions loaded, least recently used out, and never frees a graph still in use", async () => {
    const accounts = [];
    for (let i = 0; i <= MAX_ACCOUNT_MODELS; i++) {
      const account = await newAccount();
      const task = await newTask(account.deps);
      const version = await publishArtifact({ version: name(`lru${i}`), accountId: account.accountId, rewrite: otherTable });
      accounts.push({ account, task, version });
    }
    const released = loaderStats.sessionsReleased;
    for (const { account, task, version } of accounts) {
      expect((await prediction(account.deps, task.id, "Worst purchase ever")).modelVersion).toBe(version);
    }
    const loaded = currentVersions();
    expect(Object.keys(loaded).filter((scope) => scope !== "")).toHaveLength(MAX_ACCOUNT_MODELS);
    expect(loaded[accounts[0]!.account.accountId]).toBeUndefined(); // the least recently used went
    expect(loaded[""]).toBe(global);
    // The evicted version's graphs are the global one's: dropping it freed no session.
    expect(loaderStats.sessionsReleased).toBe(released);
    // And it still serves its account: loaded again on its next request.
    const first = accounts[0]!;
    expect((await prediction(first.account.deps, first.task.id, "Worst purchase ever")).modelVersion).toBe(first.version);
    for (const { version } of accounts) await env.DB.prepare("UPDATE model_versions SET active = 0 WHERE version = ?").bind(version).run();
  });

  it("is gated on its account's own tasks against what serves that account, and rejected without them", async () => {
    const [a, idle] = [await newAccount(), await newAccount()];
    await newTask(a.deps, {
      examples: [
        { input: "I love this product", label: "positive" }, { input: "Fantastic support, thank you", label: "positive" },
        { input: "Great value, works perfectly", label: "positive" }, { input: "This is broken again", label: "negative" },
        { input: "Worst purchase ever", label: "negative" }, { input: "It stopped working after a day", label: "negative" },
      ],
    });
    const candidate = await publishArtifact({ version: name("cand"), accountId: a.accountId, activate: false });
    const report = await runPromotionGate(a.deps, candidate);
    // Same weights as the global version: not worse on the account's held-out examples, so promoted.
    expect(report).toMatchObject({ decision: "promoted", comparedWith: global, accounts: { count: 1 } });
    expect(report.accounts.figures.map((f) => f.accountId)).toEqual([a.accountId]);
    expect(await getModelVersion(a.deps, candidate)).toMatchObject({ active: true, activatedBy: "gate", accountId: a.accountId });
    expect((await getModelVersion(a.deps, global)).active).toBe(true); // the global version is not replaced

    const lonely = await publishArtifact({ version: name("lonely"), accountId: idle.accountId, activate: false });
    const rejected = await runPromotionGate(idle.deps, lonely);
    expect(rejected).toMatchObject({ decision: "rejected", reason: expect.stringMatching(/no held-out examples of account/) });
    expect((await getModelVersion(idle.deps, lonely)).active).toBe(false);
  });
});
