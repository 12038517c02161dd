// Cursor pagination over (created_at, <key>), the order every list index is built for. The cursor is
// opaque to clients (base64url of the last row's sort key), so the ordering can change without an API change.
import { fromBase64Url, toBase64Url } from "./base64url";
import { validationFailed } from "./errors";
import type { Page, PageArgs } from "./types";
import { LIMITS, pageArgsSchema, parseInput } from "./validation";

interface CursorKey {
  createdAt: string;
  key: string;
}

export function encodeCursor(createdAt: string, key: string): string {
  return toBase64Url(new TextEncoder().encode(JSON.stringify([createdAt, key])));
}

export function decodeCursor(cursor: string): CursorKey {
  try {
    const bytes = fromBase64Url(cursor);
    const parsed: unknown = JSON.parse(new TextDecoder().decode(bytes));
    if (Array.isArray(parsed) && parsed.length === 2 && typeof parsed[0] === "string" && typeof parsed[1] === "string") {
      return { createdAt: parsed[0], key: parsed[1] };
    }
  } catch {
    // fall through: any undecodable cursor is the client's error, not ours
  }
  throw validationFailed([{ path: "after", message: "not a cursor returned by this API" }]);
}

export interface PageQuery<Row extends { created_at: string }, T> {
  table: string; // a constant from code, never user input
  where: string; // SQL with `?` placeholders, e.g. "account_id = ? AND task_id = ?"
  params: unknown[];
  map: (row: Row) => T;
  keyColumn?: string; // defaults to "id"
}

export async function listPage<Row extends { created_at: string }, T>(
  db: D1Database,
  query: PageQuery<Row, T>,
  args: PageArgs = {},
): Promise<Page<T>> {
  const { first, after } = parseInput(pageArgsSchema, args);
  const limit = first ?? LIMITS.defaultPageSize;
  const key = query.keyColumn ?? "id";
  const params = [...query.params];
  let where = query.where;
  if (after) {
    const cursor = decodeCursor(after);
    where += ` AND (created_at > ? OR (created_at = ? AND ${key} > ?))`;
    params.push(cursor.createdAt, cursor.createdAt, cursor.key);
  }
  const sql = `SELECT * FROM ${query.table} WHERE ${where} ORDER BY created_at, ${key} LIMIT ?`;
  const { results } = await db.prepare(sql).bind(...params, limit + 1).all<Row>();
  const hasNextPage = results.length > limit;
  const rows = results.slice(0, limit);
  const last = rows.at(-1) as (Row & Record<string, unknown>) | undefined;
  return {
    nodes: rows.map(query.map),
    endCursor: last ? encodeCursor(last.created_at, String(last[key])) : null,
    hasNextPage,
  };
}
