// Model artifacts on disk, for the Node-side commands (npm start, eval, bench, publish:local).
// The default artifact ships prebuilt in models/default (rebuilt by `npm run build:model`), so serving
// needs no Python. Every file is checked against the manifest's sha256 and size before it is used or
// published; the Worker checks them again when it loads a version from R2 (docs/model-artifact.md).
import { createHash } from "node:crypto";
import { existsSync, readFileSync, readdirSync, statSync } from "node:fs";
import { join, relative, resolve } from "node:path";
import { BUCKET, d1, ROOT, sqlString as q, wrangler } from "./wrangler.mjs";

/** The shipped default artifact, committed to the repository. */
export const DEFAULT_ARTIFACT = join(ROOT, "models", "default");
const FORMAT = "adaptagent-model/1";

export class ArtifactError extends Error {}

const sha256 = (bytes) => createHash("sha256").update(bytes).digest("hex");

/**
 * The artifact folder a command uses: the one asked for, else the shipped default. Never another
 * artifact silently (a test build in .cache would report a toy model's figures as the product's).
 */
export function resolveArtifact(asked) {
  const dir = resolve(asked ?? DEFAULT_ARTIFACT);
  if (!existsSync(join(dir, "manifest.json"))) {
    throw new ArtifactError(
      asked
        ? `${dir} holds no manifest.json (not a model artifact)`
        : `the shipped default artifact is missing (${relative(ROOT, DEFAULT_ARTIFACT)}/manifest.json): restore it with git, or rebuild it with npm run build:model`,
    );
  }
  return dir;
}

const verified = new Map(); // dir → result: one command hashes an artifact once, however many steps use it

/** Reads and checks an artifact: format, every listed file present with its size and sha256. */
export function verifyArtifact(dir) {
  if (!verified.has(dir)) verified.set(dir, readAndVerify(dir));
  return verified.get(dir);
}

function readAndVerify(dir) {
  const manifestBytes = readFileSync(join(dir, "manifest.json"));
  const manifest = JSON.parse(manifestBytes.toString("utf8"));
  if (manifest.format !== FORMAT) throw new ArtifactError(`${dir}: format ${manifest.format}, expected ${FORMAT}`);
  for (const file of manifest.files) {
    const path = join(dir, file.name);
    if (!existsSync(path)) throw new ArtifactError(`${dir}: ${file.name} is missing`);
    if (statSync(path).size !== file.bytes) throw new ArtifactError(`${dir}: ${file.name} has ${statSync(path).size} bytes, the manifest says ${file.bytes}`);
    const actual = sha256(readFileSync(path));
    if (actual !== file.sha256) throw new ArtifactError(`${dir}: ${file.name} sha256 ${actual} does not match the manifest (${file.sha256})`);
  }
  return { manifest, manifestSha256: sha256(manifestBytes) };
}

/** One line for stderr naming what a command runs on. */
export function describeArtifact(dir, manifest) {
  return `model version ${manifest.version} (${manifest.algorithm}, encoder ${manifest.encoder.tag}) from ${relative(ROOT, dir) || dir}`;
}

/** The account an artifact was built for (its manifest's `account.id`, docs/model-artifact.md); null: global. */
const accountOf = (manifest) => manifest.account?.id ?? null;

/** The D1 statements that register a version (migrations/0004, 0012); activation in the same batch. */
export function registerSql(manifest, manifestSha256, activate) {
  const v = manifest.version;
  const account = accountOf(manifest);
  // Deactivate first: the partial unique indexes allow one active row per scope at any moment.
  return (
    (activate ? deactivateOthersSql(v, account) : "") +
    "INSERT INTO model_versions (version, r2_prefix, manifest_sha256, algorithm, encoder, metrics_json, account_id, active, activated_at) " +
    `VALUES (${q(v)}, ${q(`models/${v}/`)}, ${q(manifestSha256)}, ${q(manifest.algorithm)}, ${q(manifest.encoder.tag)}, ` +
    `${q(JSON.stringify(manifest.metrics ?? {}))}, ${account === null ? "NULL" : q(account)}, ${activate ? 1 : 0}, ` +
    (activate ? "strftime('%Y-%m-%dT%H:%M:%fZ', 'now'));" : "NULL);")
  );
}

/** Deactivates the other active version of the same scope: the global one, or the same account's. */
const deactivateOthersSql = (v, account) =>
  `UPDATE model_versions SET active = 0 WHERE active = 1 AND version <> ${q(v)} AND account_id IS ${account === null ? "NULL" : q(account)};`;

/**
 * Publishes a verified artifact into `wrangler dev`'s local R2 and D1 (`--remote`: the deployed ones).
 * Versions are immutable: a version already registered with the same manifest is kept as is (and
 * activated when asked), with another manifest refused. The manifest is uploaded last, so a
 * half-finished upload never looks published.
 */
export function publishArtifact(dir, { activate = true, remote = false, persistTo, log = console.error } = {}) {
  const { manifest, manifestSha256 } = verifyArtifact(dir);
  const state = { remote, persistTo };
  const v = manifest.version;
  const existing = d1(`SELECT version, manifest_sha256 FROM model_versions WHERE version = ${q(v)}`, state);
  if (existing.length) {
    if (existing[0].manifest_sha256 !== manifestSha256) {
      throw new ArtifactError(`version ${v} is registered with another manifest (sha256 ${existing[0].manifest_sha256}); refusing to mix them`);
    }
    if (activate) {
      d1(deactivateOthersSql(v, accountOf(manifest)) + `UPDATE model_versions SET active = 1, activated_at = strftime('%Y-%m-%dT%H:%M:%fZ', 'now') WHERE version = ${q(v)} AND active = 0;`, state);
    }
    log(`[publish] ${v} already published${activate ? ", active" : ""}`);
    return v;
  }
  for (const name of [...manifest.files.map((f) => f.name), "manifest.json"]) {
    wrangler(["r2", "object", "put", `${BUCKET}/models/${v}/${name}`, "--file", join(dir, name)], state);
  }
  d1(registerSql(manifest, manifestSha256, activate), state);
  log(`[publish] ${v} published to ${remote ? "remote" : "local"} R2 + D1${activate ? " and activated" : ""}`);
  return v;
}

/**
 * For the in-process harnesses (eval, bench) whose worker exposes `/sql` and `/r2/<key>` routes: the D1
 * schema, the artifact's files into R2 and its version registered and active. Returns the manifest.
 */
export async function publishThroughWorker(call, dir) {
  const { unstable_splitSqlQuery } = await import("wrangler");
  const migrations = join(ROOT, "migrations");
  const statements = readdirSync(migrations).filter((f) => f.endsWith(".sql")).sort()
    .flatMap((f) => unstable_splitSqlQuery(readFileSync(join(migrations, f), "utf8")))
    .map((sql) => ({ sql }));
  await call("/sql", { method: "POST", body: JSON.stringify({ statements }) });
  const { manifest, manifestSha256 } = verifyArtifact(dir);
  const prefix = `models/${manifest.version}/`;
  for (const f of [...manifest.files.map((x) => x.name), "manifest.json"]) {
    await call(`/r2/${encodeURIComponent(prefix + f)}`, { method: "PUT", body: readFileSync(join(dir, f)) });
  }
  await call("/sql", {
    method: "POST",
    body: JSON.stringify({
      statements: [{
        sql: "INSERT INTO model_versions (version, r2_prefix, manifest_sha256, algorithm, encoder, active) VALUES (?, ?, ?, ?, ?, 1)",
        params: [manifest.version, prefix, manifestSha256, manifest.algorithm, manifest.encoder.tag],
      }],
    }),
  });
  return manifest;
}
