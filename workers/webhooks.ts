// Webhook-triggered executions: the inbound route (authenticated by its signature, not an API key) and
// the queue consumers. Thin: functions/webhookDeliveries.ts does the work.
import { z, type RouteConfig } from "@hono/zod-openapi";
import { Hono } from "hono";
import { resilientDb } from "../functions/d1";
import { depsFor } from "../functions/deps";
import { SIGNATURE_HEADER, TIMESTAMP_HEADER } from "../functions/signatures";
import { webhookPostSchema } from "../functions/validation";
import { acceptPost, markDead, MAX_IDEMPOTENCY_KEY, processDelivery, retryDelayS, type WebhookEnv, type WebhookMessage } from "../functions/webhookDeliveries";
import { countingAuthFailures, type AppEnv } from "./auth";
import { ErrorSchema } from "./openapi";

export const DEAD_LETTER_QUEUE = "adaptagent-webhooks-dead";

export const webhooks = new Hono<AppEnv>();

// 202 at once: the execution runs from the queue. A refused signature counts as a failed
// authentication for the sender's address (the same limit as wrong API keys).
webhooks.post("/webhooks/:endpointId", async (c) => {
  const env = c.env as WebhookEnv;
  const accepted = await countingAuthFailures(c, async () =>
    acceptPost(resilientDb(env.DB), env, c.req.param("endpointId"), c.req.raw.headers, await c.req.text()),
  );
  return c.json({ deliveryId: accepted.deliveryId, replayed: accepted.replayed }, 202);
});

const error = (description: string) => ({ description, content: { "application/json": { schema: ErrorSchema } } });

/**
 * The inbound route in /openapi.json. Documentation only: the route reads the raw body itself, because the
 * signature covers the exact bytes and is checked before anything is parsed (an unsigned post is a 401,
 * never a 400).
 */
export const webhookRouteDoc: RouteConfig = {
  method: "post",
  path: "/webhooks/{endpointId}",
  operationId: "postWebhook",
  summary: "Trigger an execution of the endpoint's task (signed; answered at once, executed from a queue)",
  description:
    `Sign "<timestamp>.<raw body>" with the endpoint's secret (HMAC-SHA256, hex) and send it as ` +
    `${SIGNATURE_HEADER}: v1=<hex> with ${TIMESTAMP_HEADER}: <Unix seconds> (at most 300 s off). ` +
    "A signed post is accepted once: the same timestamp and body arriving again (with or without an Idempotency-Key, " +
    "which the signature does not cover) answers the first delivery with replayed: true. " +
    "The result is posted to the endpoint's callback URL, signed the same way.",
  request: {
    params: z.object({ endpointId: z.string() }),
    headers: z.object({
      [TIMESTAMP_HEADER]: z.string().openapi({ description: "Unix seconds when the post was signed" }),
      [SIGNATURE_HEADER]: z.string().openapi({ description: "v1=<hex HMAC-SHA256(secret, \"<timestamp>.<raw body>\")>" }),
      "idempotency-key": z.string().min(1).max(MAX_IDEMPOTENCY_KEY).optional()
        .openapi({ description: "a retried post with the same key returns the first delivery and executes once" }),
    }),
    body: { content: { "application/json": { schema: webhookPostSchema } }, required: true },
  },
  responses: {
    202: {
      description: "Accepted: the delivery to follow with webhookDeliveries / webhookDelivery in GraphQL",
      content: { "application/json": { schema: z.object({ deliveryId: z.string(), replayed: z.boolean() }).openapi("WebhookAccepted") } },
    },
    400: error("The body is not a valid post (VALIDATION_FAILED)"),
    401: error("Missing, wrong or stale signature (UNAUTHENTICATED), with the reason"),
    403: error("The endpoint is disabled (FORBIDDEN)"),
    404: error("No such endpoint (NOT_FOUND)"),
    409: error("This Idempotency-Key was used for a different body (CONFLICT)"),
    429: error("Too many failed signatures from this address (RATE_LIMITED)"),
    503: error("Webhooks are not configured, or the delivery could not be queued; nothing was stored"),
  },
};

/** The queue handler: deliveries from the webhook queue, and dead ones from its dead-letter queue. */
export async function handleQueue(batch: MessageBatch<WebhookMessage>, env: Env): Promise<void> {
  for (const message of batch.messages) {
    const { deliveryId, accountId } = message.body;
    const deps = depsFor(env, accountId);
    try {
      if (batch.queue === DEAD_LETTER_QUEUE) {
        await markDead(deps, deliveryId);
        message.ack();
        continue;
      }
      const outcome = await processDelivery(deps, deliveryId, message.attempts);
      if (outcome.ack) message.ack();
      else message.retry({ delaySeconds: outcome.retryAfterS });
    } catch (error) {
      // Anything unexpected (D1 down, a bug): the queue tries again later; the Execution id is fixed,
      // so the retry cannot execute twice.
      console.error(JSON.stringify({ event: "webhook_consumer_failed", deliveryId, attempt: message.attempts, error: String(error) }));
      message.retry({ delaySeconds: retryDelayS(env as WebhookEnv, message.attempts) });
    }
  }
}
