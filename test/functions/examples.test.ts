import { env } from "cloudflare:workers";
import { describe, expect, it } from "vitest";
import { AppError } from "../../functions/errors";
import { listExamples, removeExample } from "../../functions/examples";
import { executeTask } from "../../functions/executions";
import { submitFeedback } from "../../functions/feedback";
import { addExamples } from "../../functions/taskSetup";
import { LIMITS } from "../../functions/validation";
import { newAccount, newTask } from "../support/fixtures";

/** Fills a task with plain stored examples up to `total` (one statement: no featurising, no checks). */
async function fillTo(accountId: string, taskId: string, total: number) {
  const have = (await env.DB.prepare("SELECT COUNT(*) AS n FROM examples WHERE task_id = ?").bind(taskId).first<{ n: number }>())!.n;
  await env.DB.prepare(
    `WITH RECURSIVE n(i) AS (SELECT 1 UNION ALL SELECT i + 1 FROM n WHERE i < ?)
     INSERT INTO examples (id, account_id, task_id, input, label, source)
     SELECT lower(hex(randomblob(16))), ?, ?, 'filler ' || i, 'positive', 'user' FROM n`,
  ).bind(total - have, accountId, taskId).run();
}

const fail = async (p: Promise<unknown>) => (await p.then(() => null, (e: unknown) => e)) as AppError;

describe("examples", () => {
  it("adds, lists (paginated) and removes", async () => {
    const { deps } = await newAccount();
    const task = await newTask(deps, { examples: [] });
    const added = await addExamples(deps, task.id, [
      { input: "great", label: "positive" },
      { input: "awful", label: "negative" },
      { input: "fine", label: "positive" },
    ]);
    expect(added.map((e) => e.input)).toEqual(["great", "awful", "fine"]);
    const page = await listExamples(deps, task.id, { first: 2 });
    expect(page.nodes).toHaveLength(2);
    expect(page.hasNextPage).toBe(true);
    const rest = await listExamples(deps, task.id, { after: page.endCursor! });
    expect(new Set([...page.nodes, ...rest.nodes].map((e) => e.id))).toEqual(new Set(added.map((e) => e.id)));
    expect(await removeExample(deps, added[0]!.id)).toMatchObject({ input: "great" });
    expect((await listExamples(deps, task.id)).nodes).toHaveLength(2);
    expect((await fail(removeExample(deps, added[0]!.id))).code).toBe("NOT_FOUND");
  });

  it("adds the documented maximum of 500 in one call and returns every one (D1 binds at most 100 values per statement)", async () => {
    const { deps } = await newAccount();
    const task = await newTask(deps, { examples: [] });
    const items = Array.from({ length: 500 }, (_, i) => ({ input: `message ${i}`, label: i % 2 ? "positive" : "negative" }));
    const added = await addExamples(deps, task.id, items);
    expect(added.map((e) => e.input)).toEqual(items.map((x) => x.input));
    const stored = await env.DB.prepare("SELECT COUNT(*) AS n FROM examples WHERE task_id = ?").bind(task.id).first<{ n: number }>();
    expect(stored?.n).toBe(500);
  });

  it(`holds at most ${LIMITS.examplesPerTask} examples a task, race-safe; a correction at a full task is refused`, async () => {
    const { deps, accountId } = await newAccount();
    const task = await newTask(deps);
    const execution = await executeTask(deps, { taskId: task.id, input: "the app crashes on login" });
    await fillTo(accountId, task.id, LIMITS.examplesPerTask - 2);
    const count = async () => (await env.DB.prepare("SELECT COUNT(*) AS n FROM examples WHERE task_id = ?").bind(task.id).first<{ n: number }>())!.n;

    // Three examples where two fit: refused whole, nothing written, and the issue says why.
    const over = await fail(addExamples(deps, task.id, [1, 2, 3].map((i) => ({ input: `new ${i}`, label: "negative" }))));
    expect(over.code).toBe("VALIDATION_FAILED");
    expect(over.issues[0]!.message).toContain(`at most ${LIMITS.examplesPerTask} examples`);
    expect(await count()).toBe(LIMITS.examplesPerTask - 2);

    // Four writes of one racing for the last two places: exactly two pass, whatever the interleaving.
    const raced = await Promise.allSettled([1, 2, 3, 4].map((i) => addExamples(deps, task.id, [{ input: `race ${i}`, label: "negative" }])));
    expect(raced.filter((r) => r.status === "fulfilled")).toHaveLength(2);
    for (const r of raced) if (r.status === "rejected") expect((r.reason as AppError).code).toMatch(/^(VALIDATION_FAILED|CONFLICT)$/);
    expect(await count()).toBe(LIMITS.examplesPerTask);

    // At a full task a correction (which would become an example) is refused, feedback without one is kept.
    const correction = await fail(submitFeedback(deps, { executionId: execution.id, rating: -1, correctedLabel: "negative" }));
    expect(correction.code).toBe("VALIDATION_FAILED");
    expect(correction.issues[0]).toMatchObject({ path: "correctedLabel", message: expect.stringContaining("at most") });
    expect((await submitFeedback(deps, { executionId: execution.id, rating: -1 })).rating).toBe(-1);
    expect(await count()).toBe(LIMITS.examplesPerTask);
  });

  it("rejects bad items before writing any of them", async () => {
    const { deps } = await newAccount();
    const task = await newTask(deps, { examples: [] });
    const error = await fail(addExamples(deps, task.id, [{ input: "ok", label: "positive" }, { input: "", label: "positive" }]));
    expect(error.code).toBe("VALIDATION_FAILED");
    expect(error.issues[0]?.path).toBe("1.input");
    expect((await fail(addExamples(deps, task.id, []))).code).toBe("VALIDATION_FAILED");
    expect((await fail(addExamples(deps, "missing", [{ input: "x", label: "positive" }]))).code).toBe("NOT_FOUND");
    expect((await listExamples(deps, task.id)).nodes).toHaveLength(0);
  });

  it("a D1 batch is all or nothing: a failing second statement leaves no first row", async () => {
    const { deps, accountId } = await newAccount();
    const task = await newTask(deps, { examples: [] });
    const insert = env.DB.prepare("INSERT INTO examples (id, account_id, task_id, input, label, source) VALUES (?, ?, ?, ?, ?, ?)");
    const batch = env.DB.batch([
      insert.bind(crypto.randomUUID(), accountId, task.id, "kept?", "positive", "user"),
      insert.bind(crypto.randomUUID(), accountId, task.id, "bad", "positive", "not-a-source"), // CHECK fails
    ]);
    await expect(batch).rejects.toThrow(/CHECK constraint/);
    expect((await listExamples(deps, task.id)).nodes).toHaveLength(0);
  });

  it("D1 enforces foreign keys: an example for a missing task is refused", async () => {
    const { accountId } = await newAccount();
    const insert = env.DB.prepare("INSERT INTO examples (id, account_id, task_id, input) VALUES (?, ?, ?, ?)");
    await expect(insert.bind(crypto.randomUUID(), accountId, "no-such-task", "x").run()).rejects.toThrow(/FOREIGN KEY/);
  });
});
