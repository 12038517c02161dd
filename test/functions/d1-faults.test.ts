// Fault injection into D1: the real local database behind a proxy that refuses the first calls with
// the errors D1 and SQLite give under load. Transient refusals are retried (functions/d1.ts); what
// does not pass is a typed DATABASE_UNAVAILABLE (503), and a write is stored whole or not at all.
import { createExecutionContext } from "cloudflare:test";
import { env } from "cloudflare:workers";
import { describe, expect, it } from "vitest";
import { D1_RETRY } from "../../functions/d1";
import { depsFor } from "../../functions/deps";
import { AppError } from "../../functions/errors";
import { getTask } from "../../functions/tasks";
import { createTask } from "../../functions/taskSetup";
import worker from "../../workers/index";
import { newAccount, newAgent, newTask, SENTIMENT_EXAMPLES } from "../support/fixtures";

const BUSY = "D1_ERROR: SQLITE_BUSY: database is locked";
const LOST = "D1_ERROR: Network connection lost.";

/** env.DB whose first `failures` calls of the given kind throw `message`; counts every call. */
function faultyDb(failures: number, message: string, on: "batch" | "statement" | "write-statement") {
  const calls = { batch: 0, statement: 0, refused: 0 };
  const refuse = () => {
    if (calls.refused < failures) {
      calls.refused++;
      throw new Error(message);
    }
  };
  const statement = (s: D1PreparedStatement, sql: string): D1PreparedStatement =>
    new Proxy(s, {
      get(target, prop) {
        if (prop === "bind") return (...v: unknown[]) => statement(target.bind(...v), sql);
        if (prop === "first" || prop === "all" || prop === "run" || prop === "raw") {
          return async (...args: unknown[]) => {
            calls.statement++;
            if (on === "statement" || (on === "write-statement" && !/^\s*SELECT/i.test(sql))) refuse();
            return (target[prop] as (...a: unknown[]) => Promise<unknown>).apply(target, args);
          };
        }
        const value: unknown = Reflect.get(target, prop);
        return typeof value === "function" ? (value as (...a: unknown[]) => unknown).bind(target) : value;
      },
    });
  const real = new WeakMap<object, D1PreparedStatement>();
  const db = new Proxy(env.DB, {
    get(target, prop) {
      if (prop === "prepare") {
        return (sql: string) => {
          const raw = target.prepare(sql);
          const wrapped = statement(raw, sql);
          real.set(wrapped, raw);
          return wrapped;
        };
      }
      if (prop === "batch") {
        return async (statements: D1PreparedStatement[]) => {
          calls.batch++;
          if (on === "batch") refuse();
          return target.batch(statements.map((s) => real.get(s) ?? s));
        };
      }
      const value: unknown = Reflect.get(target, prop);
      return typeof value === "function" ? (value as (...a: unknown[]) => unknown).bind(target) : value;
    },
  });
  return { db, calls };
}

async function count(sql: string, ...params: unknown[]) {
  return (await env.DB.prepare(sql).bind(...params).first<number>("n")) ?? 0;
}

describe("transient D1 faults", () => {
  it("retries a busy database: the task and its examples are stored once", async () => {
    const account = await newAccount();
    const agent = await newAgent(account.deps);
    const { db, calls } = faultyDb(D1_RETRY.attempts - 1, BUSY, "batch");
    const deps = depsFor({ ...env, DB: db } as Env, account.accountId);
    const task = await createTask(deps, { agentId: agent.id, name: "t", labels: ["positive", "negative"], examples: SENTIMENT_EXAMPLES });
    expect(calls.refused).toBe(D1_RETRY.attempts - 1);
    expect(await count("SELECT COUNT(*) AS n FROM tasks WHERE account_id = ?", account.accountId)).toBe(1);
    expect(await count("SELECT COUNT(*) AS n FROM examples WHERE task_id = ?", task.id)).toBe(SENTIMENT_EXAMPLES.length);
  });

  it("gives up with DATABASE_UNAVAILABLE (503, Retry-After) and writes nothing when the database stays busy", async () => {
    const account = await newAccount();
    const agent = await newAgent(account.deps);
    const { db, calls } = faultyDb(1000, BUSY, "batch");
    const deps = depsFor({ ...env, DB: db } as Env, account.accountId);
    const error = await createTask(deps, { agentId: agent.id, name: "t", labels: ["a"], examples: [{ input: "x", label: "a" }] }).catch((e: unknown) => e);
    expect(error).toBeInstanceOf(AppError);
    expect((error as AppError).code).toBe("DATABASE_UNAVAILABLE");
    expect((error as AppError).status).toBe(503);
    expect((error as AppError).retryAfter).toBeGreaterThan(0);
    expect((error as AppError).message).toContain("nothing was changed");
    expect(calls.batch).toBe(D1_RETRY.attempts);
    expect(await count("SELECT COUNT(*) AS n FROM tasks WHERE account_id = ?", account.accountId)).toBe(0);
  });

  it("retries a lost connection on a read, but never re-sends a write that may have committed", async () => {
    const account = await newAccount();
    const task = await newTask(account.deps);
    const reads = faultyDb(2, LOST, "statement");
    expect((await getTask(depsFor({ ...env, DB: reads.db } as Env, account.accountId), task.id)).id).toBe(task.id);
    expect(reads.calls.refused).toBe(2);

    const writes = faultyDb(1000, LOST, "write-statement");
    const deps = depsFor({ ...env, DB: writes.db } as Env, account.accountId);
    const { deleteTask } = await import("../../functions/tasks");
    const error = await deleteTask(deps, task.id).catch((e: unknown) => e);
    expect((error as AppError).code).toBe("DATABASE_UNAVAILABLE");
    expect((error as AppError).message).toContain("may or may not have been saved");
    expect(writes.calls.refused).toBe(1); // the DELETE was tried once
  });

  it("answers a REST request over a failing database with a typed 503, not a 500", async () => {
    const account = await newAccount();
    const task = await newTask(account.deps);
    const { db } = faultyDb(1000, BUSY, "batch");
    const res = await worker.fetch(
      new Request("http://local/execute_task", { method: "POST", headers: account.headers, body: JSON.stringify({ taskId: task.id, input: "I love it" }) }),
      { ...env, DB: db } as Env,
      createExecutionContext(),
    );
    expect(res.status).toBe(503);
    expect(res.headers.get("retry-after")).toBe("1");
    expect(((await res.json()) as { error: { code: string } }).error.code).toBe("DATABASE_UNAVAILABLE");
  });

  it("answers GraphQL over a failing database with DATABASE_UNAVAILABLE and a Retry-After, as REST does", async () => {
    const account = await newAccount();
    const task = await newTask(account.deps);
    const { db } = faultyDb(1000, BUSY, "batch");
    const res = await worker.fetch(
      new Request("http://local/graphql", {
        method: "POST",
        headers: { ...account.headers, "content-type": "application/json" },
        body: JSON.stringify({ query: `mutation($t: ID!) { executeTask(taskId: $t, input: "I love it") { id } }`, variables: { t: task.id } }),
      }),
      { ...env, DB: db } as Env,
      createExecutionContext(),
    );
    const body = (await res.json()) as { errors: { extensions: Record<string, unknown> }[] };
    expect(body.errors[0]!.extensions).toMatchObject({ code: "DATABASE_UNAVAILABLE", retryAfter: 1 });
    expect(body.errors[0]!.extensions.http).toBeUndefined();
    expect(res.headers.get("retry-after")).toBe("1");
  });
});
