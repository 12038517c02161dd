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
