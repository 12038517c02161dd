// Property-based tests (fast-check) over what a client may send: for any generated body — arbitrary
// JSON, or near-valid objects with wrong types, duplicates, case variants, empty and oversized values —
// the answer is 2xx or a typed 4xx, never a 5xx, and the database holds the whole write or none of it.
// A failure prints the seed and the shrunk input that reproduces it.
import { env } from "cloudflare:workers";
import fc from "fast-check";
import { describe, expect, it } from "vitest";
import { gql } from "../graphql/gql";
import { call, newAccount, newAgent, newTask, type TestAccount } from "../support/fixtures";

const TYPED_4XX = new Set(["VALIDATION_FAILED", "NOT_FOUND", "CONFLICT", "PAYLOAD_TOO_LARGE", "BAD_REQUEST"]);
const RUNS = { numRuns: 60 } as const;
const TIMEOUT_MS = 120_000; // 60 requests per property, on a loaded 2-core machine

const text = fc.oneof(
  fc.string({ maxLength: 30 }),
  fc.string({ unit: "grapheme", maxLength: 20 }),
  fc.constantFrom("", " ", "positive", "POSITIVE", "Positive", "ｐｏｓｉｔｉｖｅ", "e\u0301", "\u00e9", "x".repeat(8001)),
);
const maybe = <T>(a: fc.Arbitrary<T>) => fc.option(a, { nil: undefined });
const junk = fc.oneof(fc.integer(), fc.double(), fc.boolean(), fc.constant(null), fc.jsonValue({ maxDepth: 2 }));

function example() {
  return fc.record({ input: fc.oneof(text, junk), label: maybe(fc.oneof(text, junk)), output: maybe(fc.oneof(text, junk)) }, { requiredKeys: [] });
}

async function counts(account: TestAccount) {
  const n = (sql: string) => env.DB.prepare(sql).bind(account.accountId).first<number>("n").then((v) => v ?? 0);
  return {
    tasks: await n("SELECT COUNT(*) AS n FROM tasks WHERE account_id = ?"),
    examples: await n("SELECT COUNT(*) AS n FROM examples WHERE account_id = ?"),
    executions: await n("SELECT COUNT(*) AS n FROM executions WHERE account_id = ?"),
    feedback: await n("SELECT COUNT(*) AS n FROM feedback WHERE account_id = ?"),
  };
}

function expectTyped(res: { status: number; json: unknown; text: string }) {
  expect(res.status, res.text.slice(0, 300)).toBeLessThan(500);
  if (res.status >= 400) expect(TYPED_4XX, res.text.slice(0, 300)).toContain((res.json as { error?: { code?: string } })?.error?.code);
}

const LABELS = ["positive", "negative", "neutral"];
/** Bodies that are mostly valid (so the success branch is exercised), with labels in any case. */
function validTask(agentId: string) {
  return fc.record({
    agentId: fc.constant(agentId),
    name: fc.string({ minLength: 1, maxLength: 20 }).filter((n) => n.trim().length > 0),
    labels: fc.constant(LABELS),
    examples: fc.array(
      fc.record({ input: fc.string({ minLength: 1, maxLength: 40 }).filter((t) => t.trim().length > 0), label: fc.constantFrom(...LABELS, "POSITIVE", "Neutral") }),
      { maxLength: 5 },
    ),
  });
}

describe("POST /tasks with generated bodies", () => {
  it("answers 201 or a typed 4xx, and stores the task with all its examples or nothing", async () => {
    const account = await newAccount();
    const agent = await newAgent(account.deps);
    const body = fc.oneof(
      fc.jsonValue({ maxDepth: 3 }),
      validTask(agent.id),
      fc.record(
        {
          agentId: fc.oneof(fc.constant(agent.id), text, junk),
          name: fc.oneof(text, junk),
          description: maybe(fc.oneof(text, junk)),
          kind: maybe(fc.oneof(fc.constantFrom("classification", "generation"), text)),
          labels: maybe(fc.oneof(fc.array(text, { maxLength: 6 }), junk)),
          examples: maybe(fc.oneof(fc.array(example(), { maxLength: 6 }), junk)),
          confidenceThreshold: maybe(fc.oneof(fc.double({ min: -1, max: 2, noNaN: true }), junk)),
          parameters: maybe(fc.jsonValue({ maxDepth: 2 })),
          unknownField: maybe(junk),
        },
        { requiredKeys: ["agentId", "name"] },
      ),
    );
    const statuses = new Set<number>();
    await fc.assert(
      fc.asyncProperty(body, async (b) => {
        const before = await counts(account);
        const res = await call("/tasks", { body: JSON.stringify(b) ?? "null", headers: account.headers });
        statuses.add(res.status);
        expectTyped(res);
        const after = await counts(account);
        if (res.status === 201) {
          const examples = (b as { examples?: unknown[] }).examples ?? [];
          expect(after.tasks - before.tasks).toBe(1);
          expect(after.examples - before.examples).toBe(examples.length);
        } else {
          expect(after).toEqual(before);
        }
      }),
      RUNS,
    );
    expect(statuses).toContain(201); // both branches were exercised
    expect(statuses).toContain(400);
  }, TIMEOUT_MS);
});

describe("POST /execute_task and POST /feedback with generated bodies", () => {
  it("answer 2xx or a typed 4xx; an execution is stored only when one is answered", async () => {
    const account = await newAccount();
    const task = await newTask(account.deps);
    const first = await call("/execute_task", { body: { taskId: task.id, input: "I love it" }, headers: account.headers });
    expect(first.status).toBe(200);
    const executionId = (first.json as { id: string }).id;
    const execBody = fc.oneof(
      fc.jsonValue({ maxDepth: 3 }),
      fc.record(
        { taskId: fc.oneof(fc.constant(task.id), text, junk), input: fc.oneof(text, junk), conversationId: maybe(fc.oneof(text, junk)) },
        { requiredKeys: [] },
      ),
    );
    await fc.assert(
      fc.asyncProperty(execBody, async (b) => {
        const before = await counts(account);
        const res = await call("/execute_task", { body: JSON.stringify(b) ?? "null", headers: account.headers });
        expectTyped(res);
        const after = await counts(account);
        expect(after.executions - before.executions).toBe(res.status === 200 ? 1 : 0);
        expect(after.tasks).toBe(before.tasks);
      }),
      RUNS,
    );
    const feedbackBody = fc.oneof(
      fc.jsonValue({ maxDepth: 3 }),
      fc.record(
        {
          executionId: fc.oneof(fc.constant(executionId), text, junk),
          rating: maybe(fc.oneof(fc.integer({ min: -2, max: 2 }), junk)),
          correctedLabel: maybe(fc.oneof(fc.constantFrom("positive", "negative", "NEGATIVE"), text, junk)),
          correctedOutput: maybe(fc.oneof(text, junk)),
          comment: maybe(fc.oneof(text, junk)),
        },
        { requiredKeys: [] },
      ),
    );
    await fc.assert(
      fc.asyncProperty(feedbackBody, async (b) => {
        const before = await counts(account);
        const res = await call("/feedback", { body: JSON.stringify(b) ?? "null", headers: account.headers });
        expectTyped(res);
        const after = await counts(account);
        expect(after.feedback - before.feedback).toBe(res.status === 201 ? 1 : 0);
        // a correction becomes an example in the same batch as its feedback, or neither is stored
        if (res.status !== 201) expect(after.examples).toBe(before.examples);
      }),
      RUNS,
    );
  }, TIMEOUT_MS);
});

describe("GraphQL createTask and addExamples with generated variables", () => {
  it("never answer an unexpected error, and store all or nothing", async () => {
    const account = await newAccount();
    const agent = await newAgent(account.deps);
    const task = await newTask(account.deps);
    const input = fc.record(
      {
        agentId: fc.oneof(fc.constant(agent.id), text),
        name: fc.oneof(text, junk),
        kind: maybe(fc.constantFrom("classification", "generation", "CLASSIFICATION", "other")),
        labels: maybe(fc.array(text, { maxLength: 6 })),
        examples: maybe(fc.array(example(), { maxLength: 6 })),
        confidenceThreshold: maybe(fc.oneof(fc.double({ min: -1, max: 2, noNaN: true }), junk)),
      },
      { requiredKeys: [] },
    );
    let stored = 0;
    await fc.assert(
      fc.asyncProperty(fc.oneof(input, validTask(agent.id)), fc.oneof(fc.array(example(), { maxLength: 8 }), validTask(agent.id).map((t) => t.examples)), async (createInput, more) => {
        const before = await counts(account);
        const created = await gql(account, `mutation($input: CreateTaskInput!) { createTask(input: $input) { id examples { edges { cursor } } } }`, { input: createInput });
        const added = await gql(account, `mutation($taskId: ID!, $examples: [ExampleInput!]!) { addExamples(taskId: $taskId, examples: $examples) { id } }`, { taskId: task.id, examples: more });
        for (const r of [created, added]) {
          expect(r.status, r.text.slice(0, 300)).toBeLessThan(500);
          for (const e of r.errors) expect(e.extensions?.code, r.text.slice(0, 300)).not.toBe("INTERNAL_SERVER_ERROR");
        }
        const after = await counts(account);
        const createdExamples = created.data ? ((createInput as { examples?: unknown[] }).examples?.length ?? 0) : 0;
        const addedExamples = added.data ? more.length : 0;
        expect(after.tasks - before.tasks).toBe(created.data ? 1 : 0);
        expect(after.examples - before.examples).toBe(createdExamples + addedExamples);
        stored += after.tasks - before.tasks;
      }),
      RUNS,
    );
    expect(stored).toBeGreaterThan(0); // the success branch was exercised
  }, TIMEOUT_MS);
});
