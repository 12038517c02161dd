// The cron's snapshot of each account's own texts for the per-account encoder (functions/accountTexts.ts):
// real D1 rows in, a real R2 object out, one account's texts only, at most daily.
import { env } from "cloudflare:workers";
import { describe, expect, it } from "vitest";
import { accountTexts, accountTextsKey, exportAccountTexts, MIN_TEXTS, SNAPSHOT_EVERY_MS } from "../../functions/accountTexts";
import { executeTask } from "../../functions/executions";
import { addExamples } from "../../functions/taskSetup";
import { newAccount, newTask } from "../support/fixtures";

async function snapshot(accountId: string): Promise<{ lines: Record<string, unknown>[]; uploaded: Date } | null> {
  const object = await env.MODELS.get(accountTextsKey(accountId));
  if (!object) return null;
  return { lines: (await object.text()).trim().split("\n").map((l) => JSON.parse(l) as Record<string, unknown>), uploaded: object.uploaded };
}

describe("account texts snapshot (scheduled)", () => {
  it("writes an active account's distinct texts, unlabelled, and nobody else's; at most once a day", async () => {
    const busy = await newAccount();
    const task = await newTask(busy.deps);
    const many = Array.from({ length: MIN_TEXTS }, (_, i) => ({ input: `order ${i} has not arrived yet`, label: i % 2 ? "positive" : "negative" }));
    await addExamples(busy.deps, task.id, many);
    await addExamples(busy.deps, task.id, [{ input: "order 1 has not arrived yet", label: "negative" }]); // a repeat
    await executeTask(busy.deps, { taskId: task.id, input: "where is my parcel" });
    const quiet = await newAccount();
    await newTask(quiet.deps); // 4 texts: too few to tune anything

    const texts = await accountTexts(env.DB, busy.accountId);
    expect(new Set(texts).size).toBe(texts.length);
    expect(texts).toEqual(expect.arrayContaining(["where is my parcel", "order 0 has not arrived yet", "I love this product"]));

    const now = new Date();
    const written = await exportAccountTexts(env.DB, env.MODELS, now);
    expect(written).toContainEqual({ accountId: busy.accountId, texts: texts.length });
    expect(written.map((w) => w.accountId)).not.toContain(quiet.accountId);
    expect(await snapshot(quiet.accountId)).toBeNull();
    const first = (await snapshot(busy.accountId))!;
    expect(first.lines.map((l) => l.text).sort()).toEqual([...texts].sort());
    expect(first.lines.every((l) => Object.keys(l).join() === "text")).toBe(true); // no label, no output

    // Within a day nothing is rewritten, even with new texts; after a day the snapshot is redone.
    await executeTask(busy.deps, { taskId: task.id, input: "the courier never came" });
    expect((await exportAccountTexts(env.DB, env.MODELS, new Date(now.getTime() + 60_000))).map((w) => w.accountId)).not.toContain(busy.accountId);
    expect((await snapshot(busy.accountId))!.lines).toHaveLength(first.lines.length);
    const later = new Date(first.uploaded.getTime() + SNAPSHOT_EVERY_MS + 1000);
    expect((await exportAccountTexts(env.DB, env.MODELS, later)).map((w) => w.accountId)).toContain(busy.accountId);
    expect((await snapshot(busy.accountId))!.lines.map((l) => l.text)).toContain("the courier never came");
  });
});
