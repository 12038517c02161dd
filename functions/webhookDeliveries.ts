// Webhook deliveries (the webhook_deliveries table): one signed inbound post, queued, executed once, and
// its Execution posted to the endpoint's callback URL, signed the same way.
// - acceptPost (the inbound route): checks the signature and the body, records the delivery as queued
//   with the Execution id it will have, and sends its id to the queue; a retried post with the same
//   Idempotency-Key, or the same signed post arriving again (a replay: same timestamp and body), returns
//   the first delivery and queues nothing.
// - processDelivery (the queue consumer): executes (once: the Execution id was fixed on arrival, so a
//   message delivered twice or a consumer that died mid-message finds the Execution already there), then
//   posts the callback; a callback that fails asks the queue to retry later (exponential backoff, full
//   jitter). After the queue's last attempt the message goes to the dead-letter queue, whose consumer
//   marks the delivery dead. redeliver() queues it again by hand.
// - sweepStuckDeliveries (the cron): a delivery that has not moved for STUCK_AFTER_MS is queued again, so
//   a lost queue message (miniflare's local queue drops its messages when wrangler dev reloads) cannot
//   leave it stuck.
import { callbackUrlIssue, type CallbackEnv } from "./callbackUrls";
import type { Deps } from "./deps";
import { AppError, conflict, forbidden, notFound, unauthenticated, validationFailed } from "./errors";
import { executeTask, getExecution } from "./executions";
import { newId } from "./ids";
import { listPage } from "./pagination";
import { nowIso, toWebhookDelivery, type WebhookDeliveryRow, type WebhookEndpointRow } from "./rows";
import type { SecretsEnv } from "./secrets";
import { SIGNATURE_HEADER, TIMESTAMP_HEADER, sign, verifySignature } from "./signatures";
import type { Execution, Page, PageArgs, WebhookDelivery } from "./types";
import { parseInput, webhookPostSchema } from "./validation";
import { sha256Hex } from "./model/artifact";
import { endpointForInbound, findEndpointRow, getWebhookEndpoint, signingSecretOf, verifyingSecrets } from "./webhookEndpoints";

/** What the queue carries: only ids; everything else is read from D1 when the message is handled. */
export interface WebhookMessage {
  deliveryId: string;
  accountId: string;
}

export type WebhookEnv = Env & SecretsEnv & CallbackEnv & {
  WEBHOOK_QUEUE: Queue<WebhookMessage>;
  WEBHOOK_RETRY_BASE_S?: string; // first retry delay before jitter (default 10 s), doubled per attempt
  WEBHOOK_CALLBACK_TIMEOUT_MS?: string; // default 10 000
};

export const MAX_IDEMPOTENCY_KEY = 255;
const RETRY_CAP_S = 15 * 60;

export interface AcceptedPost {
  deliveryId: string;
  replayed: boolean; // the Idempotency-Key or the signed bytes named an earlier post: nothing new was queued
}

const findDeliveryRow = (deps: Deps, id: string) =>
  deps.db.prepare("SELECT * FROM webhook_deliveries WHERE id = ? AND account_id = ?").bind(id, deps.accountId).first<WebhookDeliveryRow>();

async function deliveryRow(deps: Deps, id: string): Promise<WebhookDeliveryRow> {
  const row = await findDeliveryRow(deps, id);
  if (!row) throw notFound("WebhookDelivery", id);
  return row;
}

export const getWebhookDelivery = async (deps: Deps, id: string) => toWebhookDelivery(await deliveryRow(deps, id));

export async function listWebhookDeliveries(deps: Deps, endpointId: string, page: PageArgs = {}): Promise<Page<WebhookDelivery>> {
  await getWebhookEndpoint(deps, endpointId);
  return listPage<WebhookDeliveryRow, WebhookDelivery>(
    deps.db,
    { table: "webhook_deliveries", where: "account_id = ? AND endpoint_id = ?", params: [deps.accountId, endpointId], map: toWebhookDelivery },
    page,
  );
}

/**
 * An inbound post to endpoint `endpointId`: 401 without a valid signature (the reason says which part
 * failed), 403 for a disabled endpoint, 400 for a body that is not what executeTask takes, 409 for an
 * Idempotency-Key reused with another body. Returns the delivery to report in the 202.
 */
export async function acceptPost(
  db: D1Database,
  env: WebhookEnv,
  endpointId: string,
  headers: Headers,
  rawBody: string,
): Promise<AcceptedPost> {
  const endpoint = await endpointForInbound(db, endpointId);
  if (!endpoint) throw notFound("WebhookEndpoint", endpointId);
  const check = await verifySignature(await verifyingSecrets(env, endpoint), headers.get(TIMESTAMP_HEADER), headers.get(SIGNATURE_HEADER), rawBody);
  if (!check.ok) throw unauthenticated(`The webhook signature was refused: ${check.reason}.`);
  if (!endpoint.enabled) throw forbidden(`WebhookEndpoint ${endpointId} is disabled.`);
  let body: unknown;
  try {
    body = JSON.parse(rawBody);
  } catch {
    throw validationFailed([{ path: "", message: "the body must be JSON" }]);
  }
  const data = parseInput(webhookPostSchema, body);
  const key = headers.get("idempotency-key");
  if (key !== null && (key.length === 0 || key.length > MAX_IDEMPOTENCY_KEY)) {
    throw validationFailed([{ path: "Idempotency-Key", message: `must be 1 to ${MAX_IDEMPOTENCY_KEY} characters` }]);
  }
  const requestSha = await sha256Hex(new TextEncoder().encode(rawBody));
  // The signature covers "<timestamp>.<raw body>" and nothing else: the same bytes arriving again are the
  // same post (a replay within the timestamp's window, whatever Idempotency-Key it carries or lacks).
  const signedSha = await sha256Hex(new TextEncoder().encode(`${headers.get(TIMESTAMP_HEADER)}.${rawBody}`));
  const id = newId();
  const now = nowIso();
  const inserted = await db
    .prepare(
      `INSERT INTO webhook_deliveries (id, account_id, endpoint_id, idempotency_key, request_sha256, signed_sha256, input,
         conversation_id, metadata_json, status, execution_id, attempts, created_at, updated_at)
       VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, 'queued', ?, 0, ?, ?)
       ON CONFLICT DO NOTHING RETURNING id`,
    )
    .bind(id, endpoint.account_id, endpointId, key, requestSha, signedSha, data.input, data.conversationId ?? null,
      JSON.stringify(data.metadata), newId(), now, now)
    .first<{ id: string }>();
  if (!inserted) {
    // The Idempotency-Key, or the signed bytes, name an earlier post (or one arriving at the same moment):
    // answer with it. A key reused for another body is the sender's mistake.
    const byKey = key === null ? null : await db
      .prepare("SELECT id, request_sha256 FROM webhook_deliveries WHERE endpoint_id = ? AND idempotency_key = ?")
      .bind(endpointId, key)
      .first<{ id: string; request_sha256: string }>();
    if (byKey && byKey.request_sha256 !== requestSha) throw conflict("This Idempotency-Key was used for a different body.");
    const first = byKey ?? await db
      .prepare("SELECT id FROM webhook_deliveries WHERE endpoint_id = ? AND signed_sha256 = ?")
      .bind(endpointId, signedSha)
      .first<{ id: string }>();
    if (!first) throw new Error("webhook delivery neither inserted nor found");
    console.log(JSON.stringify({ event: "webhook_replayed", endpointId, deliveryId: first.id, by: byKey ? "idempotency-key" : "signature" }));
    return { deliveryId: first.id, replayed: true };
  }
  try {
    await env.WEBHOOK_QUEUE.send({ deliveryId: id, accountId: endpoint.account_id }, { contentType: "json" });
  } catch (error) {
    // Not queued: take the record back so the sender's retry is not answered with a delivery that never runs.
    await db.prepare("DELETE FROM webhook_deliveries WHERE id = ?").bind(id).run();
    console.error(JSON.stringify({ event: "webhook_enqueue_failed", deliveryId: id, error: String(error) }));
    throw new AppError("DATABASE_UNAVAILABLE", "The delivery could not be queued; nothing was stored: retry the post.", 503, [], undefined, undefined, 1);
  }
  console.log(JSON.stringify({ event: "webhook_accepted", endpointId, deliveryId: id }));
  return { deliveryId: id, replayed: false };
}

/** What the consumer tells the queue about one message. */
export type Outcome = { ack: true } | { ack: false; retryAfterS: number };

/** Exponential backoff with full jitter: a random delay up to base × 2^(attempt-1), capped. */
export function retryDelayS(env: WebhookEnv, attempt: number): number {
  const base = Number(env.WEBHOOK_RETRY_BASE_S ?? "10");
  return Math.round(Math.random() * Math.min(RETRY_CAP_S, base * 2 ** Math.max(0, attempt - 1)));
}

const update = (deps: Deps, id: string, set: string, ...values: unknown[]) =>
  deps.db
    .prepare(`UPDATE webhook_deliveries SET ${set}, updated_at = ? WHERE id = ? AND account_id = ?`)
    .bind(...values, nowIso(), id, deps.accountId)
    .run();

/** Handles one queue message for delivery `deliveryId`; `attempt` counts from 1 (the queue's count). */
export async function processDelivery(deps: Deps, deliveryId: string, attempt: number): Promise<Outcome> {
  const env = deps.env as WebhookEnv;
  const row = await findDeliveryRow(deps, deliveryId);
  if (!row || row.status === "delivered" || row.status === "dead") return { ack: true }; // gone, or done already
  const endpoint = await findEndpointRow(deps, row.endpoint_id);
  if (!endpoint) return { ack: true };
  const executed = row.outcome !== null;
  await update(deps, deliveryId, executed ? "attempts = attempts + 1" : "attempts = attempts + 1, status = 'executing'");

  let execution: Execution | null = null;
  let failure: AppError | null = null;
  if (!executed) {
    ({ execution, failure } = await executeOnce(deps, endpoint, row));
    const outcome = execution?.status === "succeeded" ? "succeeded" : "failed";
    await update(
      deps, deliveryId, "status = ?, outcome = ?, executed_at = ?, last_error = ?",
      outcome, outcome, nowIso(), failure ? `${failure.code}: ${failure.message}` : null,
    );
  } else {
    execution = await findExecution(deps, row.execution_id);
    if (!execution) failure = new AppError("NOT_FOUND", row.last_error ?? "The execution failed.", 404);
  }

  const callback = await postCallback(env, endpoint, row, execution, failure);
  if (callback.ok) {
    await update(deps, deliveryId, "status = 'delivered', delivered_at = ?, callback_status = ?", nowIso(), callback.status);
    return { ack: true };
  }
  await update(deps, deliveryId, "last_error = ?, callback_status = ?", callback.error, callback.status);
  console.warn(JSON.stringify({ event: "webhook_callback_failed", deliveryId, attempt, status: callback.status, error: callback.error }));
  return { ack: false, retryAfterS: retryDelayS(env, attempt) };
}

const findExecution = (deps: Deps, id: string) => getExecution(deps, id).catch(() => null);

/** The delivery's Execution: found if a previous attempt stored it, else executed now under its fixed id. */
async function executeOnce(deps: Deps, endpoint: WebhookEndpointRow, row: WebhookDeliveryRow): Promise<{ execution: Execution | null; failure: AppError | null }> {
  const existing = await findExecution(deps, row.execution_id);
  if (existing) return { execution: existing, failure: null };
  try {
    const execution = await executeTask(
      deps,
      { taskId: endpoint.task_id, input: row.input, conversationId: row.conversation_id },
      undefined,
      { executionId: row.execution_id },
    );
    return { execution, failure: null };
  } catch (error) {
    if (error instanceof AppError) {
      // A failed Execution was stored (e.g. the LLM failed) or none could be (e.g. the task is gone).
      const failed = error.executionId ? await findExecution(deps, error.executionId) : null;
      return { execution: failed, failure: error };
    }
    // Two consumers raced on a duplicated message: the other stored the Execution first.
    const raced = await findExecution(deps, row.execution_id);
    if (raced) return { execution: raced, failure: null };
    throw error; // unexpected: the queue retries the message
  }
}

type CallbackResult = { ok: true; status: number } | { ok: false; status: number | null; error: string };

async function postCallback(
  env: WebhookEnv,
  endpoint: WebhookEndpointRow,
  row: WebhookDeliveryRow,
  execution: Execution | null,
  failure: AppError | null,
): Promise<CallbackResult> {
  const issue = callbackUrlIssue(env, endpoint.callback_url);
  if (issue) return { ok: false, status: null, error: `callbackUrl ${issue.message}` };
  const { accountId: _account, ...visible } = execution ?? ({} as Partial<Execution>);
  const body = JSON.stringify({
    type: "execution.completed",
    deliveryId: row.id,
    endpointId: endpoint.id,
    taskId: endpoint.task_id,
    metadata: JSON.parse(row.metadata_json) as unknown,
    execution: execution ? visible : null,
    error: failure ? { code: failure.code, message: failure.message } : null,
  });
  const timestamp = String(Math.floor(Date.now() / 1000));
  try {
    const res = await fetch(endpoint.callback_url, {
      method: "POST",
      redirect: "manual", // a redirect could lead anywhere, past the callback URL checks
      headers: {
        "content-type": "application/json",
        "user-agent": "adaptagent-webhooks/1",
        "x-adaptagent-delivery": row.id,
        [TIMESTAMP_HEADER]: timestamp,
        [SIGNATURE_HEADER]: await sign(await signingSecretOf(env, endpoint), timestamp, body),
      },
      body,
      signal: AbortSignal.timeout(Number(env.WEBHOOK_CALLBACK_TIMEOUT_MS ?? "10000")),
    });
    await res.body?.cancel();
    if (res.status >= 200 && res.status < 300) return { ok: true, status: res.status };
    return { ok: false, status: res.status, error: `the callback answered ${res.status}` };
  } catch (error) {
    const timedOut = error instanceof Error && (error.name === "TimeoutError" || error.name === "AbortError");
    return { ok: false, status: null, error: timedOut ? "the callback did not answer in time" : `the callback could not be reached (${String(error).slice(0, 200)})` };
  }
}

/** The dead-letter queue's consumer: every attempt failed. */
// Longer than any wait the queue itself can impose between two attempts (the retry delay's 15-minute cap).
export const STUCK_AFTER_MS = 30 * 60_000;
const SWEEP_BATCH = 100; // the most messages one sendBatch takes

/**
 * Queues again every delivery still on its way (queued, executing, or executed with its callback not yet
 * delivered) and untouched for STUCK_AFTER_MS. processDelivery never executes twice, so a sweep that
 * races a late message costs at most one more callback. Returns how many were queued.
 */
export async function sweepStuckDeliveries(db: D1Database, env: WebhookEnv, nowMs = Date.now()): Promise<number> {
  const { results } = await db
    .prepare(
      `SELECT id, account_id FROM webhook_deliveries
       WHERE status IN ('queued', 'executing', 'succeeded', 'failed') AND updated_at < ? ORDER BY updated_at LIMIT ?`,
    )
    .bind(new Date(nowMs - STUCK_AFTER_MS).toISOString(), SWEEP_BATCH)
    .all<{ id: string; account_id: string }>();
  if (results.length === 0) return 0;
  await env.WEBHOOK_QUEUE.sendBatch(results.map((r) => ({ body: { deliveryId: r.id, accountId: r.account_id }, contentType: "json" as const })));
  const touched = new Date(nowMs).toISOString();
  await db.batch(results.map((r) => db.prepare("UPDATE webhook_deliveries SET updated_at = ? WHERE id = ?").bind(touched, r.id)));
  console.warn(JSON.stringify({ event: "webhook_deliveries_requeued", count: results.length }));
  return results.length;
}

export async function markDead(deps: Deps, deliveryId: string): Promise<void> {
  await update(deps, deliveryId, "status = 'dead'");
  console.warn(JSON.stringify({ event: "webhook_dead", deliveryId }));
}

/** Queues a delivery again by hand (after a dead end, or to post a delivered result once more). */
export async function redeliver(deps: Deps, deliveryId: string): Promise<WebhookDelivery> {
  const row = await deliveryRow(deps, deliveryId);
  if (row.status === "queued" || row.status === "executing") throw conflict(`WebhookDelivery ${deliveryId} is still in progress (${row.status}).`);
  const status = row.outcome ?? "queued";
  const updated = await deps.db
    .prepare(
      `UPDATE webhook_deliveries SET status = ?, updated_at = ? WHERE id = ? AND account_id = ? AND status = ? RETURNING *`,
    )
    .bind(status, nowIso(), deliveryId, deps.accountId, row.status)
    .first<WebhookDeliveryRow>();
  if (!updated) throw conflict(`WebhookDelivery ${deliveryId} changed meanwhile: try again.`);
  await (deps.env as WebhookEnv).WEBHOOK_QUEUE.send({ deliveryId, accountId: deps.accountId }, { contentType: "json" });
  return toWebhookDelivery(updated);
}
