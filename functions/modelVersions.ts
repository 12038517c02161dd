// The registry of meta-trained artifacts in R2 (docs/model-artifact.md). A version is global (account_id
// NULL: every account may read it) or an account's own (an encoder re-tuned on that account's texts:
// only that account and admin keys see it). Only admin keys may register or activate a version. A
// version is immutable; at most one is active per scope, one global and one per account (partial unique
// indexes enforce it). An account is served by its own active version when it has one, else the global.
import type { z } from "zod";
import type { Auth } from "./accounts";
import type { Deps } from "./deps";
import { AppError, conflict, forbidden, modelUnavailable, notFound } from "./errors";
import { chunked, placeholders, type SqlCondition } from "./d1";
import { withDetachedModel, type ActiveRow } from "./model/loader";
import { accountExists } from "./accounts";
import { listPage } from "./pagination";
import { nowIso, toModelVersion, type ModelVersionRow } from "./rows";
import type { GateReport, ModelVersion, Page, PageArgs } from "./types";
import { parseInput, registerModelVersionSchema } from "./validation";

export type RegisterModelVersionInput = z.input<typeof registerModelVersionSchema>;

function requireAdmin(auth: Pick<Auth, "isAdmin">, action: string): void {
  if (!auth.isAdmin) throw forbidden(`Only an admin API key may ${action}.`);
}

/** Who looks: an account sees the global versions and its own; an admin key sees every version. */
export type Viewer = Pick<Auth, "accountId" | "isAdmin">;

/** `version`, NOT_FOUND when it is not registered or is another account's (for a viewer that is not admin). */
export async function getModelVersion(deps: Deps, version: string, viewer?: Viewer): Promise<ModelVersion> {
  const row = await deps.db.prepare("SELECT * FROM model_versions WHERE version = ?").bind(version).first<ModelVersionRow>();
  if (!row || (viewer && !viewer.isAdmin && row.account_id !== null && row.account_id !== viewer.accountId)) {
    throw notFound("ModelVersion", version);
  }
  return toModelVersion(row);
}

const ARTIFACT_COLUMNS = "version, r2_prefix, manifest_sha256, encoder, account_id";
// The version serving one account (bound: its id): its own active version if it has one, else the global one.
const SERVING_ACCOUNT = `FROM model_versions WHERE active = 1 AND (account_id IS NULL OR account_id = ?)
         ORDER BY account_id IS NULL LIMIT 1`;

/**
 * The version serving `accountId`: its own active version if it has one, else the global active one
 * (`accountId` null: the global one only). The per-request check, batched by callers with their own reads.
 */
export const activeVersionStatement = (db: D1Database, accountId: string | null) =>
  accountId === null
    ? db.prepare(`SELECT ${ARTIFACT_COLUMNS} FROM model_versions WHERE active = 1 AND account_id IS NULL`)
    : db.prepare(`SELECT ${ARTIFACT_COLUMNS} ${SERVING_ACCOUNT}`).bind(accountId);

/** SQL true while `version` (null: none) is still the one activeVersionStatement returns (a write batch's guard). */
export const activeVersionIs = (accountId: string, version: string | null): SqlCondition => ({
  sql: `(SELECT version ${SERVING_ACCOUNT}) IS ?`,
  params: [accountId, version],
});

export async function activeVersionRow(db: D1Database, accountId: string | null): Promise<ActiveRow | null> {
  return activeVersionStatement(db, accountId).first<ActiveRow>();
}

/** A registered version's artifact reference and whether it is active (null: not registered). */
export async function versionRow(db: D1Database, version: string): Promise<(ActiveRow & { active: number }) | null> {
  return db
    .prepare(`SELECT ${ARTIFACT_COLUMNS}, active FROM model_versions WHERE version = ?`)
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

/** The version serving deps.accountId's tasks now (its own, else the global one); null: none active. */
export async function getActiveModelVersion(deps: Deps): Promise<ModelVersion | null> {
  const row = await deps.db
    .prepare("SELECT * FROM model_versions WHERE active = 1 AND (account_id IS NULL OR account_id = ?) ORDER BY account_id IS NULL LIMIT 1")
    .bind(deps.accountId)
    .first<ModelVersionRow>();
  return row ? toModelVersion(row) : null;
}

/** The versions `viewer` may see (global ones and its own; every one for an admin), oldest first. */
export async function listModelVersions(deps: Deps, page: PageArgs = {}, viewer?: Viewer): Promise<Page<ModelVersion>> {
  const all = !viewer || viewer.isAdmin;
  return listPage<ModelVersionRow, ModelVersion>(
    deps.db,
    {
      table: "model_versions", where: all ? "1 = 1" : "(account_id IS NULL OR account_id = ?)", params: all ? [] : [viewer.accountId],
      map: toModelVersion, keyColumn: "version",
    },
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
  if (data.accountId !== undefined && !(await accountExists(deps.db, data.accountId))) throw notFound("Account", data.accountId);
  const result = await deps.db
    .prepare(
      `INSERT INTO model_versions (version, r2_prefix, manifest_sha256, algorithm, encoder, metrics_json, account_id)
       VALUES (?, ?, ?, ?, ?, ?, ?) ON CONFLICT(version) DO NOTHING`,
    )
    .bind(data.version, data.r2Prefix, data.manifestSha256, data.algorithm, data.encoder, JSON.stringify(data.metrics), data.accountId ?? null)
    .run();
  if (result.meta.changes === 0) throw conflict(`ModelVersion ${data.version} already exists; versions are immutable.`);
  return getModelVersion(deps, data.version);
}

/**
 * An admin's activation by hand: deactivates the version active in the same scope (global, or the same
 * account's) and activates this one in one batch (never zero-then-error, never two), recorded as
 * activated_by 'admin' — also over a gate's rejection, which stays on the record beside it. A version
 * that does not load (missing or damaged files in R2) is refused, MODEL_UNAVAILABLE with nothing
 * changed, as the promotion gate refuses one: activating it would leave its scope served by the LLM
 * baseline alone. The check loads it beside the serving model and releases it.
 */
export async function activateModelVersion(deps: Deps, auth: Pick<Auth, "isAdmin">, version: string): Promise<ModelVersion> {
  requireAdmin(auth, "activate model versions");
  const target = await getModelVersion(deps, version);
  if (!target.active) {
    const row = (await versionRow(deps.db, version))!;
    try {
      await withDetachedModel(deps.models, row, async () => null);
    } catch (error) {
      if (!(error instanceof AppError)) throw error;
      console.warn(JSON.stringify({ event: "model_activation_refused", version, detail: error.detail ?? error.message }));
      throw modelUnavailable(
        `ModelVersion ${version} does not load (its files are missing, damaged or not what it was registered with, or R2 was too slow), so it was not activated; ` +
          "the version active before still serves. The operator's logs say why.",
      );
    }
  }
  await deps.db.batch(activationStatements(deps.db, version, target.accountId, "admin", nowIso()));
  return getModelVersion(deps, version);
}

/**
 * An account's own version stops serving it (the global one serves it again from the next request);
 * a global version cannot be deactivated this way: there would be nothing left to serve every account.
 */
export async function deactivateModelVersion(deps: Deps, auth: Pick<Auth, "isAdmin">, version: string): Promise<ModelVersion> {
  requireAdmin(auth, "deactivate model versions");
  const target = await getModelVersion(deps, version);
  if (target.accountId === null) throw conflict("A global ModelVersion is replaced by activating another, never deactivated.");
  await deps.db.prepare("UPDATE model_versions SET active = 0 WHERE version = ?").bind(version).run();
  return getModelVersion(deps, version);
}

/** The two statements that make `version` the one active version of its scope (one batch, with others). */
export function activationStatements(
  db: D1Database, version: string, accountId: string | null, by: "gate" | "admin", at: string,
): D1PreparedStatement[] {
  return [
    db.prepare("UPDATE model_versions SET active = 0 WHERE active = 1 AND version <> ? AND account_id IS ?").bind(version, accountId),
    db.prepare("UPDATE model_versions SET active = 1, activated_at = ?, activated_by = ? WHERE version = ? AND active = 0").bind(at, by, version),
  ];
}
