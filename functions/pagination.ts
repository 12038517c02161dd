// Cursor pagination over (created_at, <key>), the order every list index is built for. The cursor is
// opaque to clients (base64url of the last row's sort key), so the ordering can change without an API change.
import { fromBase64Url, toBase64Url } from "./base64url";
import { chunked, placeholders } from "./d1";
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

/** One child table listed under a parent column (e.g. examples.task_id); the owner module describes it. */
export interface ChildList<Row, T> {
  table: string; // a constant from code, never user input
  parentColumn: string;
  map: (row: Row) => T;
  // messages carry no account_id: their conversation does.
  scope?: { join: string; accountColumn: string };
}

/**
 * The first page of children for many parents in one batch (ROW_NUMBER per parent), in the parents'
 * order: what GraphQL's DataLoaders ask for. A page that continues from a cursor (`after`) belongs to one
 * parent and goes through listPage.
 */
export async function firstPages<Row extends { id: string; created_at: string }, T>(
  db: D1Database,
  list: ChildList<Row, T>,
  accountId: string,
  parentIds: readonly string[],
  first: number,
): Promise<Page<T>[]> {
  if (parentIds.length === 0) return [];
  const account = list.scope ? list.scope.accountColumn : "account_id";
  const from = list.scope ? `${list.table} ${list.scope.join}` : list.table;
  const statement = (ids: string[]) =>
    db
      .prepare(
        `SELECT * FROM (
          SELECT ${list.table}.*, ROW_NUMBER() OVER (PARTITION BY ${list.table}.${list.parentColumn}
                 ORDER BY ${list.table}.created_at, ${list.table}.id) AS row_in_parent
          FROM ${from}
          WHERE ${account} = ? AND ${list.table}.${list.parentColumn} IN (${placeholders(ids.length)}))
        WHERE row_in_parent <= ? ORDER BY row_in_parent`,
      )
      .bind(accountId, ...ids, first + 1);
  const pages = await db.batch<Row & Record<string, unknown>>(chunked(parentIds).map(statement));
  const grouped = new Map<string, (Row & Record<string, unknown>)[]>();
  for (const row of pages.flatMap((p) => p.results)) {
    const parent = String(row[list.parentColumn]);
    grouped.set(parent, [...(grouped.get(parent) ?? []), row]);
  }
  return parentIds.map((parentId) => {
    const rows = grouped.get(parentId) ?? [];
    const shown = rows.slice(0, first);
    const last = shown.at(-1);
    return {
      nodes: shown.map(list.map),
      endCursor: last ? encodeCursor(last.created_at, last.id) : null,
      hasNextPage: rows.length > first,
    };
  });
}
