// The registry of meta-trained artifacts in R2 (docs/model-artifact.md). Global, not per account: every
// account may read it; only admin keys may register or activate a version. A version is immutable, and
// at most one is active (a partial unique index enforces it).
import type { z } from "zod";
import type { Auth } from "./accounts";
import type { Deps } from "./deps";
import { conflict, forbidden, notFound } from "./errors";
import { chunked, placeholders } from "./d1";
import type { ActiveRow } from "./model/loader";
import { listPage } from "./pagination";
import { nowIso, toModelVersion, type ModelVersionRow } from "./rows";
import type { GateReport, ModelVersion, Page, PageArgs } from "./types";
import { parseInput, registerModelVersionSchema } from "./validation";

export type RegisterModelVersionInput = z.input<typeof registerModelVersionSchema>;

function requireAdmin(auth: Pick<Auth, "isAdmin">, action: string): void {
  if (!auth.isAdmin) throw forbidden(`Only an admin API key may ${action}.`);
}

export async function getModelVersion(deps: Deps, version: string): Promise<ModelVersion> {
  const row = await deps.db.prepare("SELECT * FROM model_versions WHERE version = ?").bind(version).first<ModelVersionRow>();
  if (!row) throw notFound("ModelVersion", version);
  return toModelVersion(row);
}

/** The active version's artifact reference: the per-request check, batched by callers with their own reads. */
export const activeVersionStatement = (db: D1Database) =>
  db.prepare("SELECT version, r2_prefix, manifest_sha256, encoder FROM model_versions WHERE active = 1");

export async function activeVersionRow(db: D1Database): Promise<ActiveRow | null> {
  return activeVersionStatement(db).first<ActiveRow>();
}

/** A registered version's artifact reference and whether it is active (null: not registered). */
export async function versionRow(db: D1Database, version: string): Promise<(ActiveRow & { active: number }) | null> {
  return db
    .prepare("SELECT version, r2_prefix, manifest_sha256, encoder, active FROM model_versions WHERE version = ?")
    .bind(version)
    .first<ActiveRow & { active: number }>();
}

/** Many versions by name, in the callers' order (null: not registered), for GraphQL's loaders. */
export async function modelVersionsByName(db: D1Database, versions: readonly string[]): Promise<(ModelVersion | null)[]> {
  if (versions.length === 0) return [];
  const pages = await db.batch<ModelVersionRow>(
    chunked(versions).map((chunk) => db.prepare(`SELECT * FROM model_versions WHERE version IN (${placeholders(chunk.length)})`).bind(...chunk)),
  );
  const byVersion = new Map(pages.flatMap((p) => p.results).map((row) => [row.version, toModelVersion(row)]));
  return versions.map((v) => byVersion.get(v) ?? null);
}

/** The promotion gate's record on a version (batched with the activation when it promotes). */
export const gateRecordStatement = (db: D1Database, version: string, report: GateReport) =>
  db
    .prepare("UPDATE model_versions SET gate_decision = ?, gate_json = ?, gated_at = ? WHERE version = ?")
    .bind(report.decision, JSON.stringify(report), report.evaluatedAt, version);

/** Registered versions no gate has decided on and not active, oldest first. */
export async function ungatedVersions(db: D1Database): Promise<string[]> {
  const { results } = await db
    .prepare("SELECT version FROM model_versions WHERE gate_decision IS NULL AND active = 0 ORDER BY created_at, version")
    .all<{ version: string }>();
  return results.map((r) => r.version);
}

export async function getActiveModelVersion(deps: Deps): Promise<ModelVersion | null> {
  const row = await deps.db.prepare("SELECT * FROM model_versions WHERE active = 1").first<ModelVersionRow>();
  return row ? toModelVersion(row) : null;
}

export async function listModelVersions(deps: Deps, page: PageArgs = {}): Promise<Page<ModelVersion>> {
  return listPage<ModelVersionRow, ModelVersion>(
    deps.db,
    { table: "model_versions", where: "1 = 1", params: [], map: toModelVersion, keyColumn: "version" },
    page,
  );
}

/** Re-registering an existing version is CONFLICT: published artifacts never change under a name. */
export async function registerModelVersion(
  deps: Deps,
  auth: Pick<Auth, "isAdmin">,
  input: RegisterModelVersionInput,
): Promise<ModelVersion> {
  requireAdmin(auth, "register model versions");
  const data = parseInput(registerModelVersionSchema, input);
  const result = await deps.db
    .prepare(
      `INSERT INTO model_versions (version, r2_prefix, manifest_sha256, algorithm, encoder, metrics_json)
       VALUES (?, ?, ?, ?, ?, ?) ON CONFLICT(version) DO NOTHING`,
    )
    .bind(data.version, data.r2Prefix, data.manifestSha256, data.algorithm, data.encoder, JSON.stringify(data.metrics))
    .run();
  if (result.meta.changes === 0) throw conflict(`ModelVersion ${data.version} already exists; versions are immutable.`);
  return getModelVersion(deps, data.version);
}

/**
 * An admin's activation by hand: deactivates the current version and activates this one in one batch
 * (never zero-then-error, never two), recorded as activated_by 'admin' — also over a gate's rejection,
 * which stays on the record beside it.
 */
export async function activateModelVersion(deps: Deps, auth: Pick<Auth, "isAdmin">, version: string): Promise<ModelVersion> {
  requireAdmin(auth, "activate model versions");
  await getModelVersion(deps, version);
  await deps.db.batch(activationStatements(deps.db, version, "admin", nowIso()));
  return getModelVersion(deps, version);
}

/** The two statements that make `version` the one active version (run them in one batch, with others). */
export function activationStatements(db: D1Database, version: string, by: "gate" | "admin", at: string): D1PreparedStatement[] {
  return [
    db.prepare("UPDATE model_versions SET active = 0 WHERE active = 1 AND version <> ?").bind(version),
    db.prepare("UPDATE model_versions SET active = 1, activated_at = ?, activated_by = ? WHERE version = ? AND active = 0").bind(at, by, version),
  ];
}
