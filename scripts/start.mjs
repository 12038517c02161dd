// npm start: the service on its embedded default, from a fresh clone.
// 1. local D1 migrations; 2. a development account + API key (created once, printed every start);
// 3. the default model (built on CPU the first time, then cached) published into local R2 + D1;
// 4. wrangler dev on 127.0.0.1:$PORT (default 8787).
import { execFileSync, spawn } from "node:child_process";
import { createHash, randomBytes, randomUUID } from "node:crypto";
import { existsSync, mkdirSync, readFileSync, writeFileSync } from "node:fs";
import { dirname, join } from "node:path";
import { fileURLToPath } from "node:url";
import { guardWorkerd } from "./workerd-guard/guard.mjs";

const root = join(dirname(fileURLToPath(import.meta.url)), "..");
guardWorkerd(); // wrangler dev inherits MINIFLARE_WORKERD_PATH (scripts/workerd-guard/guard.mjs)
const port = process.env.PORT ?? "8787";
const wrangler = join(root, "node_modules", ".bin", "wrangler");
const run = (cmd, args, opts = {}) => execFileSync(cmd, args, { cwd: root, stdio: "inherit", ...opts });
const d1 = (sql) =>
  execFileSync(wrangler, ["d1", "execute", "adaptagent", "--local", "--json", "--command", sql], {
    cwd: root,
    encoding: "utf8",
    stdio: ["ignore", "pipe", "inherit"],
  });

console.log("[start] applying D1 migrations (local)…");
run(wrangler, ["d1", "migrations", "apply", "adaptagent", "--local"], { env: { ...process.env, CI: "1" } });

// The development key lives only in this ignored file and, hashed, in local D1.
const keyFile = join(root, ".wrangler", "dev-api-key");
let devKey = existsSync(keyFile) ? readFileSync(keyFile, "utf8").trim() : "";
const keyHash = (k) => createHash("sha256").update(k).digest("hex");
const known = devKey && JSON.parse(d1(`SELECT COUNT(*) AS n FROM api_keys WHERE key_hash = '${keyHash(devKey)}'`))[0].results[0].n > 0;
if (!known) {
  devKey = `aa_${randomBytes(32).toString("base64url")}`;
  const accountId = randomUUID();
  d1(
    `INSERT INTO accounts (id, name) VALUES ('${accountId}', 'development');` +
      `INSERT INTO api_keys (id, account_id, key_hash, label, is_admin) VALUES ('${randomUUID()}', '${accountId}', '${keyHash(devKey)}', 'development key (npm start)', 1);`,
  );
  mkdirSync(dirname(keyFile), { recursive: true });
  writeFileSync(keyFile, devKey + "\n", { mode: 0o600 });
  console.log("[start] created a development account and API key");
}

console.log("[start] default model: build once on CPU (cached in .cache/models/default), publish to local R2…");
run("bash", ["scripts/ensure-artifact.sh", "default", ".cache/models/default"]);
const py = execFileSync("bash", ["scripts/python-env.sh"], { cwd: root, encoding: "utf8" }).trim();
run(py, ["-m", "training", "publish", "--target", "wrangler-local", "--activate", "--if-absent", ".cache/models/default"]);

console.log(`
  adaptagent is starting on http://127.0.0.1:${port}
  GraphiQL:      http://127.0.0.1:${port}/graphql   (header: Authorization: Bearer <key>)
  REST:          POST /tasks, /execute_task, /feedback   OpenAPI: /openapi.json
  Dev API key:   ${devKey}
  LLM:           set LLM_API_KEY (and LLM_BASE_URL / LLM_MODEL) in .dev.vars to enable LLM answers
`);
const dev = spawn(wrangler, ["dev", "--ip", "127.0.0.1", "--port", port], { cwd: root, stdio: "inherit" });
for (const sig of ["SIGINT", "SIGTERM"]) process.on(sig, () => dev.kill(sig));
dev.on("exit", (code) => process.exit(code ?? 0));
