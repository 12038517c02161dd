// Webhook-triggered executions: the inbound route (authenticated by its signature, not an API key) and
// the queue consumers. Thin: functions/webhookDeliveries.ts does the work.
import { Hono } from "hono";
import { resilientDb } from "../functions/d1";
import { depsFor } from "../functions/deps";
import { acceptPost, markDead, processDelivery, retryDelayS, type WebhookEnv, type WebhookMessage } from "../functions/webhookDeliveries";
import { countingAuthFailures, type AppEnv } from "./auth";

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
