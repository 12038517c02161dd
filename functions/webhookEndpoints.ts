// Webhook endpoints (the webhook_endpoints table): a task's signed inbound URL and the callback URL its
// results are posted to. The signing secret is returned once, on creation or rotation, and stored sealed
// (functions/secrets.ts); after a rotation the previous secret still verifies inbound posts for the grace
// the rotation chose (ROTATION_GRACE_MS unless told; 0 revokes it at once), so a sender can switch without
// dropping posts. Outbound posts use the newest one.
import { callbackUrlIssue, type CallbackEnv } from "./callbackUrls";
import { writeBatch } from "./d1";
import type { Deps } from "./deps";
import { notFound, validationFailed } from "./errors";
import { newId } from "./ids";
import { listPage } from "./pagination";
import { nowIso, toWebhookEndpoint, type WebhookEndpointRow } from "./rows";
import { newSigningSecret, open, seal, type SecretsEnv } from "./secrets";
import { getTask } from "./tasks";
import type { Page, PageArgs, WebhookEndpoint } from "./types";
import { createWebhookEndpointSchema, parseInput } from "./validation";

export const ROTATION_GRACE_MS = 24 * 60 * 60 * 1000;
/** The longest grace a rotation may give the previous secret: a week. */
export const MAX_ROTATION_GRACE_S = 7 * 24 * 60 * 60;

/** An endpoint with its signing secret: what creation and rotation answer, once. */
export interface EndpointWithSecret {
  endpoint: WebhookEndpoint;
  signingSecret: string;
}

/** The account's endpoint row, or null (the queue consumer: an endpoint deleted meanwhile is not an error). */
export const findEndpointRow = (deps: Deps, id: string) =>
  deps.db.prepare("SELECT * FROM webhook_endpoints WHERE id = ? AND account_id = ?").bind(id, deps.accountId).first<WebhookEndpointRow>();

async function row(deps: Deps, id: string): Promise<WebhookEndpointRow> {
  const found = await findEndpointRow(deps, id);
  if (!found) throw notFound("WebhookEndpoint", id);
  return found;
}

export const getWebhookEndpoint = async (deps: Deps, id: string) => toWebhookEndpoint(await row(deps, id));

export async function listWebhookEndpoints(deps: Deps, filter: { taskId?: string | null } = {}, page: PageArgs = {}): Promise<Page<WebhookEndpoint>> {
  // Another account's task (or none) is NOT_FOUND, as everywhere else: an empty list would read as
  // "your task, no endpoints yet".
  if (filter.taskId) await getTask(deps, filter.taskId);
  const where = filter.taskId ? "account_id = ? AND task_id = ?" : "account_id = ?";
  const params = filter.taskId ? [deps.accountId, filter.taskId] : [deps.accountId];
  return listPage<WebhookEndpointRow, WebhookEndpoint>(deps.db, { table: "webhook_endpoints", where, params, map: toWebhookEndpoint }, page);
}

export async function createWebhookEndpoint(deps: Deps, input: { taskId: string; callbackUrl: string }): Promise<EndpointWithSecret> {
  const data = parseInput(createWebhookEndpointSchema, input);
  const issue = callbackUrlIssue(deps.env as CallbackEnv, data.callbackUrl);
  if (issue) throw validationFailed([issue]);
  await getTask(deps, data.taskId);
  const id = newId();
  const signingSecret = newSigningSecret();
  const now = nowIso();
  const stored: WebhookEndpointRow = {
    id, account_id: deps.accountId, task_id: data.taskId, callback_url: data.callbackUrl,
    secret_sealed: await seal(deps.env as SecretsEnv, signingSecret, id), previous_secret_sealed: null, secret_rotated_at: null,
    enabled: 1, created_at: now, updated_at: now, previous_secret_expires_at: null,
  };
  const columns = Object.keys(stored) as (keyof WebhookEndpointRow)[];
  const insert = deps.db
    .prepare(`INSERT INTO webhook_endpoints (${columns.join(", ")}) VALUES (${columns.map(() => "?").join(", ")})`)
    .bind(...columns.map((c) => stored[c]));
  await writeBatch(deps.db, [insert], () => notFound("Task", data.taskId)); // the task deleted meanwhile
  return { endpoint: toWebhookEndpoint(stored), signingSecret };
}

export async function setWebhookEndpointEnabled(deps: Deps, id: string, enabled: boolean): Promise<WebhookEndpoint> {
  const updated = await deps.db
    .prepare("UPDATE webhook_endpoints SET enabled = ?, updated_at = ? WHERE id = ? AND account_id = ? RETURNING *")
    .bind(enabled ? 1 : 0, nowIso(), id, deps.accountId)
    .first<WebhookEndpointRow>();
  if (!updated) throw notFound("WebhookEndpoint", id);
  return toWebhookEndpoint(updated);
}

/** Deletes the endpoint and its delivery records (ON DELETE CASCADE); Executions stay with the task. */
export async function deleteWebhookEndpoint(deps: Deps, id: string): Promise<WebhookEndpoint> {
  const deleted = await deps.db
    .prepare("DELETE FROM webhook_endpoints WHERE id = ? AND account_id = ? RETURNING *")
    .bind(id, deps.accountId)
    .first<WebhookEndpointRow>();
  if (!deleted) throw notFound("WebhookEndpoint", id);
  return toWebhookEndpoint(deleted);
}

/**
 * A new signing secret. The previous one still verifies inbound posts for `graceSeconds` (default
 * ROTATION_GRACE_MS, at most MAX_ROTATION_GRACE_S), so a sender can switch without dropping posts; 0
 * revokes it at once (a leaked secret). A secret from an earlier rotation never verifies again.
 */
export async function rotateWebhookSecret(deps: Deps, id: string, graceSeconds: number = ROTATION_GRACE_MS / 1000): Promise<EndpointWithSecret> {
  if (!Number.isInteger(graceSeconds) || graceSeconds < 0 || graceSeconds > MAX_ROTATION_GRACE_S) {
    throw validationFailed([{ path: "graceSeconds", message: `must be a whole number of seconds from 0 to ${MAX_ROTATION_GRACE_S}` }]);
  }
  const current = await row(deps, id);
  const signingSecret = newSigningSecret();
  const now = Date.now();
  const revoke = graceSeconds === 0;
  const updated = await deps.db
    .prepare(
      `UPDATE webhook_endpoints SET secret_sealed = ?, previous_secret_sealed = ?, secret_rotated_at = ?,
         previous_secret_expires_at = ?, updated_at = ?
       WHERE id = ? AND account_id = ? AND secret_sealed = ? RETURNING *`,
    )
    .bind(
      await seal(deps.env as SecretsEnv, signingSecret, id), revoke ? null : current.secret_sealed, new Date(now).toISOString(),
      revoke ? null : new Date(now + graceSeconds * 1000).toISOString(), new Date(now).toISOString(), id, deps.accountId,
      current.secret_sealed,
    )
    .first<WebhookEndpointRow>();
  if (!updated) return rotateWebhookSecret(deps, id, graceSeconds); // rotated concurrently: rotate again from the newest
  return { endpoint: toWebhookEndpoint(updated), signingSecret };
}

/** The endpoint an inbound post names, found without an account (the post carries no API key). */
export async function endpointForInbound(db: D1Database, id: string): Promise<WebhookEndpointRow | null> {
  return db.prepare("SELECT * FROM webhook_endpoints WHERE id = ?").bind(id).first<WebhookEndpointRow>();
}

/** The secrets that verify an inbound post: the current one, and the previous one within its grace. */
export async function verifyingSecrets(env: SecretsEnv, endpoint: WebhookEndpointRow, now = Date.now()): Promise<string[]> {
  const secrets = [await open(env, endpoint.secret_sealed, endpoint.id)];
  // Rows rotated before the grace was chosen per rotation have no expiry of their own: the fixed 24 h.
  const expiresAt = endpoint.previous_secret_expires_at
    ? Date.parse(endpoint.previous_secret_expires_at)
    : (endpoint.secret_rotated_at ? Date.parse(endpoint.secret_rotated_at) : NaN) + ROTATION_GRACE_MS;
  if (endpoint.previous_secret_sealed && now < expiresAt) {
    secrets.push(await open(env, endpoint.previous_secret_sealed, endpoint.id));
  }
  return secrets;
}

/** The secret outbound callbacks are signed with. */
export const signingSecretOf = (env: SecretsEnv, endpoint: WebhookEndpointRow) => open(env, endpoint.secret_sealed, endpoint.id);
