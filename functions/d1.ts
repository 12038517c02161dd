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
