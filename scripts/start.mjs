// npm start: the service on its embedded default, from a fresh clone.
// 1. local D1 migrations; 2. a development account + API key (created once, printed every start);
// 3. the shipped default model (models/default, no Python needed) published into local R2 + D1;
// 4. local secrets for webhooks in .dev.vars (generated once: scripts/dev-vars.mjs);
// 5. wrangler dev on 127.0.0.1:$PORT (default 8787).
import { execFileSync, spawn } from "node:child_process";
import { existsSync, mkdirSync, readFileSync, writeFileSync } from "node:fs";
import { dirname, join } from "node:path";
import { fileURLToPath } from "node:url";
import { describeArtifact, publishArtifact, resolveArtifact, verifyArtifact } from "./artifact.mjs";
import { ensureDevVars, LOCAL_RECEIVER } from "./dev-vars.mjs";
import { createAccountKey, keyExists } from "./keys.mjs";
import { guardWorkerd } from "./workerd-guard/guard.mjs";

const root = join(dirname(fileURLToPath(import.meta.url)), "..");
guardWorkerd(); // wrangler dev inherits MINIFLARE_WORKERD_PATH (scripts/workerd-guard/guard.mjs)
const port = process.env.PORT ?? "8787";
const wrangler = join(root, "node_modules", ".bin", "wrangler");
const run = (cmd, args, opts = {}) => execFileSync(cmd, args, { cwd: root, stdio: "inherit", ...opts });
const node = (script) => run(process.execPath, [join(root, script)]);

node("scripts/build-assets.mjs"); // GraphiQL's page and scripts for the static assets
console.log("[start] applying D1 migrations (local)…");
run(wrangler, ["d1", "migrations", "apply", "adaptagent", "--local"], { env: { ...process.env, CI: "1" } });

// The development key lives only in this ignored file and, hashed, in local D1.
const keyFile = join(root, ".wrangler", "dev-api-key");
let devKey = existsSync(keyFile) ? readFileSync(keyFile, "utf8").trim() : "";
if (!devKey || !keyExists(devKey)) {
  devKey = createAccountKey({ account: "development", label: "development key (npm start)", admin: true }).key;
  mkdirSync(dirname(keyFile), { recursive: true });
  writeFileSync(keyFile, devKey + "\n", { mode: 0o600 });
  console.log("[start] created a development account and API key");
}

// The shipped default model (models/default): checked against its manifest, published once.
const artifact = resolveArtifact();
console.log(`[start] ${describeArtifact(artifact, verifyArtifact(artifact).manifest)}: publishing to local R2 + D1…`);
publishArtifact(artifact, { activate: true, log: console.log });
const addedVars = ensureDevVars(join(root, ".dev.vars"));
if (addedVars.length > 0) console.log(`[start] .dev.vars: generated ${addedVars.join(", ")} (local only; never committed)`);
console.log(`
  adaptagent is starting on http://127.0.0.1:${port}
  GraphiQL:      http://127.0.0.1:${port}/graphql   (header: Authorization: Bearer <key>)
  REST:          POST /tasks, /execute_task, /feedback   OpenAPI: /openapi.json
  Dev API key:   ${devKey}
  LLM:           set LLM_API_KEY (and LLM_BASE_URL / LLM_MODEL) in .dev.vars to enable LLM answers
  Webhooks:      POST /webhooks/<endpointId>, signed; local callbacks allowed under ${LOCAL_RECEIVER} (README)
  Cron:          curl http://127.0.0.1:${port}/__scheduled   (the */15 jobs, run once; not /cdn-cgi/handler/scheduled)
`);
// --test-scheduled: the cron's handler runs on GET /__scheduled. Wrangler's own trigger
// (/cdn-cgi/handler/scheduled) reaches a Worker with static assets through the assets proxy, which
// cannot forward a scheduled event: it answers 500 "exception" without the Worker ever running.
// TRUST_CF_CONNECTING_IP=false: no Cloudflare edge in front locally, so a client-sent CF-Connecting-IP
// must not choose the address its failed authentications count under (workers/rateLimit.ts).
const dev = spawn(
  wrangler,
  ["dev", "--ip", "127.0.0.1", "--port", port, "--test-scheduled", "--var", "TRUST_CF_CONNECTING_IP:false"],
  { cwd: root, stdio: "inherit" },
);
for (const sig of ["SIGINT", "SIGTERM"]) process.on(sig, () => dev.kill(sig));
dev.on("exit", (code) => process.exit(code ?? 0));
