// The registry of meta-trained artifacts in R2 (docs/model-artifact.md). Global, not per account: every
// account may read it; only admin keys may register or activate a version. A version is immutable, and
// at most one is active (a partial unique index enforces it).
import type { z } from "zod";
import type { Auth } from "./accounts";
import type { Deps } from "./deps";
import { conflict, forbidden, notFound } from "./errors";
import { listPage } from "./pagination";
import { nowIso, toModelVersion, type ModelVersionRow } from "./rows";
import type { ModelVersion, Page, PageArgs } from "./types";
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
