// node --test scripts/tests: the layout rules docs/architecture.md states, checked on the source text.
// - Each D1 table is read and written by one module of functions/ (OWNERS); generic helpers (d1.ts,
//   pagination.ts) take the table from their caller and name none.
// - Nothing above functions/ (schema/, workers/) holds SQL.
// - functions/model/ is the pure runtime: no Deps, no SQL.
// - No import cycle among the TypeScript modules of functions/, schema/ and workers/.
import assert from "node:assert/strict";
import { existsSync, readdirSync, readFileSync } from "node:fs";
import { dirname, join, relative, resolve } from "node:path";
import { test } from "node:test";

const ROOT = resolve(import.meta.dirname, "../..");

/** The owner of every table the migrations create. */
export const OWNERS = {
  "functions/accounts.ts": ["accounts", "api_keys"],
  "functions/agents.ts": ["agents"],
  "functions/tasks.ts": ["tasks"],
  "functions/examples.ts": ["examples"],
  "functions/executions.ts": ["executions"],
  "functions/conversations.ts": ["conversations", "messages"],
  "functions/feedback.ts": ["feedback"],
  "functions/adaptations.ts": ["adaptations"],
  "functions/modelVersions.ts": ["model_versions"],
  "functions/webhookEndpoints.ts": ["webhook_endpoints"],
  "functions/webhookDeliveries.ts": ["webhook_deliveries"],
};

function tsFiles(dir) {
  return readdirSync(join(ROOT, dir), { withFileTypes: true }).flatMap((e) =>
    e.isDirectory() ? tsFiles(join(dir, e.name)) : e.name.endsWith(".ts") && !e.name.endsWith(".d.ts") ? [join(dir, e.name)] : [],
  );
}

/** The source without comments (a comment may say "UPDATE statements" without being SQL). */
const code = (file) =>
  readFileSync(join(ROOT, file), "utf8")
    .replace(/\/\*[\s\S]*?\*\//g, "")
    .replace(/(^|[^:"'`])\/\/.*$/gm, "$1");

// SQLite's table-valued functions read a bound value, not a table (json_each(?): a list in one parameter).
const TABLE_FUNCTIONS = new Set(["json_each", "json_tree"]);

/** The tables a module's SQL names: after FROM / INTO / UPDATE / JOIN, and the `table` its helpers get. */
export function tablesIn(source) {
  const found = new Set();
  for (const m of source.matchAll(/\b(?:FROM|INTO|UPDATE|JOIN)\s+([a-z_]+)\b/g)) if (!TABLE_FUNCTIONS.has(m[1])) found.add(m[1]);
  for (const m of source.matchAll(/\btable:\s*"([a-z_]+)"/g)) found.add(m[1]);
  for (const m of source.matchAll(/rowsByIds\([^,]+,\s*"([a-z_]+)"/g)) found.add(m[1]);
  return found;
}

test("the migrations' tables are exactly the owned ones", () => {
  const created = new Set();
  for (const f of readdirSync(join(ROOT, "migrations"))) {
    for (const m of readFileSync(join(ROOT, "migrations", f), "utf8").matchAll(/CREATE TABLE (?:IF NOT EXISTS )?([a-z_]+)/g)) created.add(m[1]);
  }
  assert.deepEqual([...created].sort(), Object.values(OWNERS).flat().sort());
});

test("every table is read and written by its owner module only", () => {
  const strays = [];
  for (const file of tsFiles("functions")) {
    const own = new Set(OWNERS[file] ?? []);
    for (const table of tablesIn(code(file))) if (!own.has(table)) strays.push(`${file} names ${table}`);
  }
  assert.deepEqual(strays, []);
});

test("the checker sees SQL where there is some", () => {
  assert.deepEqual([...tablesIn('db.prepare("SELECT * FROM tasks t JOIN agents a ON a.id = t.agent_id")')], ["tasks", "agents"]);
  assert.deepEqual([...tablesIn('rowsByIds(deps.db, "examples", id, ids, toExample)')], ["examples"]);
  assert.deepEqual([...tablesIn(code("functions/executions.ts"))].sort(), ["executions"]);
});

test("no SQL above functions/, and none in the model runtime", () => {
  const offenders = [];
  for (const file of [...tsFiles("schema"), ...tsFiles("workers")]) {
    const src = code(file);
    if (/\.prepare\(|\.batch\(|\.exec\(/.test(src) || tablesIn(src).size > 0) offenders.push(file);
  }
  for (const file of tsFiles("functions/model")) {
    const src = code(file);
    if (/\.prepare\(|\.batch\(|\bDeps\b|D1Database/.test(src) || tablesIn(src).size > 0) offenders.push(file);
  }
  assert.deepEqual(offenders, []);
});

/** Relative imports of a module (type-only ones too: a cycle of types is still a tangle). */
function importsOf(file) {
  const out = [];
  for (const m of code(file).matchAll(/\bfrom\s+"(\.{1,2}\/[^"]+)"/g)) {
    const target = relative(ROOT, resolve(ROOT, dirname(file), m[1]));
    const path = [`${target}.ts`, join(target, "index.ts"), target].find((p) => existsSync(join(ROOT, p)));
    if (path && path.endsWith(".ts")) out.push(path);
  }
  return out;
}

test("no import cycle among functions/, schema/ and workers/", () => {
  const files = [...tsFiles("functions"), ...tsFiles("schema"), ...tsFiles("workers")];
  const graph = new Map(files.map((f) => [f, importsOf(f)]));
  const state = new Map(); // 1: on the path, 2: done
  const cycles = [];
  const visit = (f, path) => {
    state.set(f, 1);
    for (const g of graph.get(f) ?? []) {
      if (state.get(g) === 1) cycles.push([...path.slice(path.indexOf(g)), g].join(" -> "));
      else if (!state.has(g)) visit(g, [...path, g]);
    }
    state.set(f, 2);
  };
  for (const f of files) if (!state.has(f)) visit(f, [f]);
  assert.deepEqual(cycles, []);
});
