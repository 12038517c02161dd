#!/usr/bin/env node
// npm run deploy: from a working `npm start` to the Worker on Cloudflare, idempotent (safe to rerun).
//   1. checks the bundle against the Workers limits (scripts/check-deploy.mjs);
//   2. creates the D1 database and the R2 bucket when missing (the database id goes into wrangler.toml:
//      commit it);
//   3. applies the D1 migrations remotely;
//   4. sets the LLM_API_KEY secret when it is in the environment (never printed);
//   5. deploys the Worker and its static assets (GraphiQL);
//   6. publishes the shipped default model to R2 and activates it (kept as is if already there).
// Then `npm run create-key -- --remote --admin` creates the first admin API key. Needs wrangler
// authenticated (`npx wrangler login`, or CLOUDFLARE_API_TOKEN + CLOUDFLARE_ACCOUNT_ID). docs/deploy.md.
import { execFileSync } from "node:child_process";
import { readFileSync, writeFileSync } from "node:fs";
import { join } from "node:path";
import { describeArtifact, publishArtifact, resolveArtifact, verifyArtifact } from "./artifact.mjs";
import { BUCKET, DATABASE, ROOT, wrangler } from "./wrangler.mjs";

const PLACEHOLDER_ID = "00000000-0000-0000-0000-000000000000";
const log = (m) => console.error(`[deploy] ${m}`);
const remote = { remote: true, state: false };
const step = (what, fn) => {
  log(`${what}…`);
  return fn();
};

step("checking the bundle against the Workers limits", () =>
  execFileSync(process.execPath, [join(ROOT, "scripts", "check-deploy.mjs")], { cwd: ROOT, stdio: ["ignore", "ignore", "inherit"] }));

step(`D1 database ${DATABASE}`, () => {
  let db = JSON.parse(wrangler(["d1", "list", "--json"], remote)).find((d) => d.name === DATABASE);
  if (!db) {
    wrangler(["d1", "create", DATABASE], remote);
    db = JSON.parse(wrangler(["d1", "list", "--json"], remote)).find((d) => d.name === DATABASE);
    log(`created D1 database ${DATABASE} (${db.uuid})`);
  }
  const config = join(ROOT, "wrangler.toml");
  const toml = readFileSync(config, "utf8");
  if (toml.includes(PLACEHOLDER_ID)) {
    writeFileSync(config, toml.replace(PLACEHOLDER_ID, db.uuid));
    log(`wrote database_id ${db.uuid} into wrangler.toml: commit it`);
  } else if (!toml.includes(db.uuid)) {
    throw new Error(`wrangler.toml names another database_id than ${DATABASE}'s (${db.uuid}); fix it by hand`);
  }
});

step(`R2 bucket ${BUCKET}`, () => {
  try {
    wrangler(["r2", "bucket", "info", BUCKET], remote);
  } catch {
    wrangler(["r2", "bucket", "create", BUCKET], remote);
    log(`created R2 bucket ${BUCKET}`);
  }
});

step("applying D1 migrations (remote)", () => wrangler(["d1", "migrations", "apply", DATABASE, "--remote"], remote));

if (process.env.LLM_API_KEY) {
  step("setting the LLM_API_KEY secret", () => wrangler(["secret", "put", "LLM_API_KEY"], { ...remote, input: process.env.LLM_API_KEY }));
} else {
  log("LLM_API_KEY is not in the environment: no LLM secret set (answers that need an LLM say LLM_NOT_CONFIGURED)");
}

step("deploying the Worker and its static assets", () => process.stderr.write(wrangler(["deploy"], remote)));

const artifact = resolveArtifact();
step(`publishing ${describeArtifact(artifact, verifyArtifact(artifact).manifest)}`, () =>
  publishArtifact(artifact, { remote: true, activate: true, log }));
log("done. Create the first admin API key with: npm run create-key -- --remote --admin");
