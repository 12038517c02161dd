import { backOff } from "exponential-backoff";
import { databaseUnavailable } from "./errors";

// D1 allows at most 100 bound parameters per statement: statements over many ids are split into
// chunks that leave room for the statement's other parameters, and run as one batch.
export const MAX_BOUND_PARAMETERS = 100;

/** `items` in chunks of at most `size` (default: room for 10 other parameters). */
export function chunked<T>(items: readonly T[], size = MAX_BOUND_PARAMETERS - 10): T[][] {
  const out: T[][] = [];
  for (let i = 0; i < items.length; i += size) out.push(items.slice(i, i + size));
  return out;
}

/** `?, ?, …` for an IN list of n values. */
export const placeholders = (n: number): string => Array.from({ length: n }, () => "?").join(", ");

/**
 * The account's rows of `table` with these ids, in the callers' order (null: none), in one batch of
 * chunked statements. `table` is a constant of the module that owns it, never user input.
 */
export async function rowsByIds<Row extends { id: string }, T>(
  db: D1Database,
  table: string,
  accountId: string,
  ids: readonly string[],
  map: (row: Row) => T,
): Promise<(T | null)[]> {
  if (ids.length === 0) return [];
  const pages = await db.batch<Row>(
    chunked(ids).map((chunk) =>
      db.prepare(`SELECT * FROM ${table} WHERE account_id = ? AND id IN (${placeholders(chunk.length)})`).bind(accountId, ...chunk),
    ),
  );
  const byId = new Map(pages.flatMap((p) => p.results).map((r) => [r.id, map(r)]));
  return ids.map((id) => byId.get(id) ?? null);
}

/** A condition in SQL with its bound values, built by the module that owns the table it reads. */
export interface SqlCondition {
  sql: string;
  params: unknown[];
}

// SQLite has no RAISE outside triggers; abs() of the smallest 64-bit integer is its one scalar function
// documented to fail ("integer overflow"), which aborts the statement and with it the whole batch.
const GUARD_FAILED = /integer overflow/i;

/**
 * A statement to put first in a write batch: it fails — and the batch, one transaction, writes nothing —
 * unless every condition holds. What a writer that answered from remembered rows uses to write only
 * if those rows are still current, without reading them first (functions/executions.ts).
 */
export function guardStatement(db: D1Database, conditions: readonly SqlCondition[]): D1PreparedStatement {
  const all = conditions.map((c) => `(${c.sql})`).join(" AND ");
  return db
    .prepare(`SELECT CASE WHEN ${all} THEN 1 ELSE abs(-9223372036854775807 - 1) END AS current`)
    .bind(...conditions.flatMap((c) => c.params));
}

/** Whether a batch failed because its guardStatement's conditions did not hold. */
export const isGuardFailure = (error: unknown): boolean => error instanceof Error && GUARD_FAILED.test(error.message);

/**
 * `db.batch(statements)` for a write that refers to rows another request may delete meanwhile (a task,
 * a conversation, an execution): the batch is atomic, so when SQLite refuses it for a foreign key
 * nothing was written, and the caller gets `gone()` — a typed error such as NOT_FOUND — instead of a 500.
 */
export async function writeBatch(db: D1Database, statements: D1PreparedStatement[], gone: () => Error): Promise<D1Result[]> {
  try {
    return await db.batch(statements);
  } catch (error) {
    if (error instanceof Error && /FOREIGN KEY constraint failed/i.test(error.message)) throw gone();
    throw error;
  }
}

// ---- transient faults ----------------------------------------------------------------------------
// D1 (and SQLite under `npm start`) sometimes refuses a query for a reason that passes: a busy or
// locked database, an overloaded or restarting Durable Object behind D1. Those that guarantee nothing
// ran (a batch is one transaction: refused means rolled back) are retried with exponential backoff and
// full jitter (Cloudflare's advice, docs/d1 "Retry queries"), for reads and writes alike. A lost
// connection is ambiguous for a write (it may have committed), so only reads retry it. What still
// fails is DATABASE_UNAVAILABLE (503, Retry-After), never a bare 500.

export const D1_RETRY = { attempts: 4, startingDelayMs: 25, timeMultiple: 4, maxDelayMs: 1000 } as const;

const NOTHING_RAN = /SQLITE_BUSY|database is locked|D1 DB is overloaded|storage caused object to be reset|reset because its code was updated/i;
const MAYBE_RAN = /Network connection lost|internal error|D1_ERROR: .*timeout|storage operation exceeded timeout/i;
const READ_ONLY = /^\s*(SELECT|WITH|EXPLAIN)\b/i;

export function isTransient(error: unknown, readOnly: boolean): boolean {
  const message = error instanceof Error ? error.message : String(error);
  return NOTHING_RAN.test(message) || (readOnly && MAYBE_RAN.test(message));
}

async function withRetry<T>(run: () => Promise<T>, readOnly: boolean, what: string): Promise<T> {
  try {
    return await backOff(run, {
      numOfAttempts: D1_RETRY.attempts,
      startingDelay: D1_RETRY.startingDelayMs,
      timeMultiple: D1_RETRY.timeMultiple,
      maxDelay: D1_RETRY.maxDelayMs,
      jitter: "full",
      retry: (error) => isTransient(error, readOnly),
    });
  } catch (error) {
    // A write that lost its connection was not retried (isTransient), but is no bare 500 either.
    if (isTransient(error, true)) {
      console.warn(JSON.stringify({ event: "d1_unavailable", what, error: String(error) }));
      throw databaseUnavailable(!readOnly && !isTransient(error, false));
    }
    throw error;
  }
}

/** What a proxy hands on unchanged: the property, its methods bound to the real object. */
function passThrough(target: object, prop: string | symbol): unknown {
  const value: unknown = Reflect.get(target, prop);
  return typeof value === "function" ? (value as (...a: unknown[]) => unknown).bind(target) : value;
}

const REAL = new WeakMap<object, { statement: D1PreparedStatement; sql: string }>();

function wrapStatement(statement: D1PreparedStatement, sql: string): D1PreparedStatement {
  const readOnly = READ_ONLY.test(sql);
  const wrapped = new Proxy(statement, {
    get(target, prop) {
      if (prop === "bind") return (...values: unknown[]) => wrapStatement(target.bind(...values), sql);
      if (prop === "first" || prop === "all" || prop === "run" || prop === "raw") {
        return (...args: unknown[]) =>
          withRetry(() => (target[prop] as (...a: unknown[]) => Promise<unknown>).apply(target, args), readOnly, sql.slice(0, 40));
      }
      return passThrough(target, prop);
    },
  });
  REAL.set(wrapped, { statement, sql });
  return wrapped;
}

/**
 * `db` with the retries above on every statement and batch. Statements it prepares may be batched
 * by it (they are unwrapped first); `withSession`, `dump` and `exec` pass through unchanged.
 */
export function resilientDb(db: D1Database): D1Database {
  return new Proxy(db, {
    get(target, prop) {
      if (prop === "prepare") return (sql: string) => wrapStatement(target.prepare(sql), sql);
      if (prop === "batch") {
        return <T>(statements: D1PreparedStatement[]) => {
          const real = statements.map((s) => REAL.get(s) ?? { statement: s, sql: "" });
          const readOnly = real.every((r) => READ_ONLY.test(r.sql));
          return withRetry(() => target.batch<T>(real.map((r) => r.statement)), readOnly, `batch of ${statements.length}`);
        };
      }
      return passThrough(target, prop);
    },
  });
}
