// The wrangler CLI for the Node-side commands: local state (`--local`, optionally another
// `--persist-to` folder) or the deployed resources (`--remote`). One place that knows the names.
import { execFileSync } from "node:child_process";
import { join, resolve } from "node:path";

export const ROOT = resolve(import.meta.dirname, "..");
export const DATABASE = "adaptagent";
export const BUCKET = "adaptagent-models";
export const WRANGLER = join(ROOT, "node_modules", ".bin", "wrangler");

/**
 * Runs `wrangler ...args` against local or remote state (`state: false`: a command without either, such
 * as deploy); returns stdout (stderr kept for errors).
 */
export function wrangler(args, { remote = false, persistTo, input, state = true } = {}) {
  const where = !state ? [] : remote ? ["--remote"] : ["--local", ...(persistTo ? ["--persist-to", persistTo] : [])];
  return execFileSync(WRANGLER, [...args, ...where], {
    cwd: ROOT,
    encoding: "utf8",
    env: { ...process.env, CI: "1" }, // no interactive prompts
    input,
    stdio: [input === undefined ? "ignore" : "pipe", "pipe", "pipe"],
    maxBuffer: 64 << 20,
  });
}

/** Rows of one or more SQL statements through `wrangler d1 execute` (the last statement's results). */
export function d1(sql, options = {}) {
  const out = JSON.parse(wrangler(["d1", "execute", DATABASE, "--json", "--command", sql], options));
  return out.at(-1)?.results ?? [];
}

/** A SQL string literal. */
export const sqlString = (value) => `'${String(value).replaceAll("'", "''")}'`;
