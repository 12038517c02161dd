// Webhook-triggered executions end to end inside workerd: endpoints through GraphQL, signed posts
// through the Worker's fetch handler, the real local queue (miniflare) and its dead-letter queue, and a
// real local HTTP receiver (test/support/callback-receiver.ts) that checks every callback's signature.
import { env } from "cloudflare:workers";
import { describe, expect, it } from "vitest";
import type { LlmEnv } from "../../functions/llm";
import type { WebhookDelivery } from "../../functions/types";
import { acceptPost, getWebhookDelivery, processDelivery, STUCK_AFTER_MS, sweepStuckDeliveries, type WebhookEnv, type WebhookMessage } from "../../functions/webhookDeliveries";
import type { ReceivedCallback } from "../support/callback-receiver";
import { call, newAccount, newTask, type TestAccount } from "../support/fixtures";
import { codes, gql, gqlOk } from "../graphql/gql";

const receiver = new URL((env as LlmEnv).LLM_BASE_URL).origin;

async function hmacHex(secret: string, message: string): Promise<string> {
  const key = await crypto.subtle.importKey("raw", new TextEncoder().encode(secret), { name: "HMAC", hash: "SHA-256" }, false, ["sign"]);
  const mac = await crypto.subtle.sign("HMAC", key, new TextEncoder().encode(message));
  return [...new Uint8Array(mac)].map((b) => b.toString(16).padStart(2, "0")).join("");
}

interface Endpoint {
  account: TestAccount;
  taskId: string;
  id: string;
  secret: string;
  name: string; // the receiver's name for its callbacks
}

/** A task with an endpoint whose callbacks the receiver answers in `mode` (ok, fail-<n>, always-500, slow). */
async function newEndpoint(mode = "ok"): Promise<Endpoint> {
  const account = await newAccount();
  const task = await newTask(account.deps);
  const name = crypto.randomUUID();
  const data = await gqlOk<{ createWebhookEndpoint: { endpoint: { id: string }; signingSecret: string } }>(
    account,
    "mutation($i: CreateWebhookEndpointInput!) { createWebhookEndpoint(input: $i) { endpoint { id } signingSecret } }",
    { i: { taskId: task.id, callbackUrl: `${receiver}/callback/${mode}/${name}` } },
  );
  const { endpoint, signingSecret } = data.createWebhookEndpoint;
  await fetch(`${receiver}/__callbacks/secret`, { method: "POST", body: JSON.stringify({ name, secret: signingSecret }) });
  return { account, taskId: task.id, id: endpoint.id, secret: signingSecret, name };
}

async function post(endpoint: Pick<Endpoint, "id" | "secret">, body: unknown, options: { timestamp?: number; secret?: string; key?: string; signature?: string | null } = {}) {
  const raw = typeof body === "string" ? body : JSON.stringify(body);
  const timestamp = String(options.timestamp ?? Math.floor(Date.now() / 1000));
  const signature = options.signature === undefined ? `v1=${await hmacHex(options.secret ?? endpoint.secret, `${timestamp}.${raw}`)}` : options.signature;
  const headers: Record<string, string> = { "content-type": "application/json", "x-adaptagent-timestamp": timestamp };
  if (signature !== null) headers["x-adaptagent-signature"] = signature;
  if (options.key) headers["idempotency-key"] = options.key;
  return call(`/webhooks/${endpoint.id}`, { method: "POST", body: raw, headers });
}

async function until<T>(what: string, read: () => Promise<T>, done: (value: T) => boolean, timeoutMs = 25_000): Promise<T> {
  const started = Date.now();
  for (;;) {
    const value = await read();
    if (done(value)) return value;
    if (Date.now() - started > timeoutMs) throw new Error(`${what}: still ${JSON.stringify(value)} after ${timeoutMs} ms`);
    await new Promise((r) => setTimeout(r, 100));
  }
}

const delivery = (e: Endpoint, id: string) => getWebhookDelivery(e.account.deps, id);
const settled = (d: WebhookDelivery) => d.status === "delivered" || d.status === "dead";
const callbacks = async (e: Endpoint) => (await (await fetch(`${receiver}/__callbacks?name=${e.name}`)).json()) as ReceivedCallback[];
const executionsOf = async (taskId: string) =>
  (await env.DB.prepare("SELECT id FROM executions WHERE task_id = ?").bind(taskId).all<{ id: string }>()).results.map((r) => r.id);

describe("webhook endpoints", () => {
  it("shows the signing secret once, stores it sealed, and never returns it again", async () => {
    const e = await newEndpoint();
    expect(e.secret).toMatch(/^whsec_[A-Za-z0-9_-]{43}$/);
    const stored = await env.DB.prepare("SELECT * FROM webhook_endpoints WHERE id = ?").bind(e.id).first<Record<string, string>>();
    expect(JSON.stringify(stored)).not.toContain(e.secret.slice(6));
    const listed = await gql(e.account, "{ webhookEndpoints { edges { node { id callbackUrl enabled task { id } } } } }");
    expect(listed.text).not.toContain(e.secret.slice(6));
    const noField = await gql(e.account, `query($id: ID!) { webhookEndpoint(id: $id) { signingSecret } }`, { id: e.id });
    expect(codes(noField)).toContain("GRAPHQL_VALIDATION_FAILED");
  });

  it("lists a task's endpoints for its own account only: another account's task is NOT_FOUND, not []", async () => {
    const e = await newEndpoint();
    const other = await newAccount();
    const query = `query($t: ID!) { webhookEndpoints(taskId: $t) { edges { node { id } } } }`;
    const mine = await gqlOk<{ webhookEndpoints: { edges: { node: { id: string } }[] } }>(e.account, query, { t: e.taskId });
    expect(mine.webhookEndpoints.edges.map((edge) => edge.node.id)).toEqual([e.id]);
    expect(codes(await gql(other, query, { t: e.taskId }))).toEqual(["NOT_FOUND"]);
    expect(codes(await gql(other, query, { t: "no-such-task" }))).toEqual(["NOT_FOUND"]);
  });

  it.each([
    ["http://example.com/hook", /https/],
    ["https://127.0.0.1/hook", /loopback/],
    ["https://10.0.0.7/hook", /private/],
    ["https://169.254.169.254/latest/meta-data", /linkLocal/],
    ["https://[::1]/hook", /loopback/],
    ["https://[::ffff:192.168.1.1]/hook", /private/],
    ["https://localhost/hook", /not a public host/],
    ["https://metadata.google.internal/computeMetadata", /not a public host/],
    ["https://localhost./hook", /not a public host/],
    ["https://metadata.google.internal./computeMetadata", /not a public host/],
    ["https://instance-data./latest", /not a public host/],
    ["https://metadata../latest", /not a public host/],
    ["https://intranet./hook", /public host/],
    ["https://[::127.0.0.1]/hook", /loopback/],
    ["https://[::a9fe:a9fe]/latest/meta-data", /linkLocal/],
    ["https://[::10.0.0.7]/hook", /private/],
    ["https://[::ffff:127.0.0.1]/hook", /loopback/],
    ["https://[::ffff:a9fe:a9fe]/hook", /linkLocal/],
    ["https://[64:ff9b::7f00:1]/hook", /rfc6052/],
    ["https://user:pass@example.com/hook", /credentials/],
    ["not a url", /absolute URL/],
  ])("refuses the callback URL %s", async (callbackUrl, reason) => {
    const account = await newAccount();
    const task = await newTask(account.deps);
    const result = await gql(account, "mutation($i: CreateWebhookEndpointInput!) { createWebhookEndpoint(input: $i) { signingSecret } }", {
      i: { taskId: task.id, callbackUrl },
    });
    expect(codes(result)).toEqual(["VALIDATION_FAILED"]);
    expect(result.errors[0]!.extensions!.issues![0]).toMatchObject({ path: "callbackUrl", message: expect.stringMatching(reason) });
  });

  it("a disabled endpoint refuses posts (403), an enabled one takes them again, a deleted one is gone (404)", async () => {
    const e = await newEndpoint();
    await gqlOk(e.account, "mutation($id: ID!) { disableWebhookEndpoint(id: $id) { enabled } }", { id: e.id });
    expect((await post(e, { input: "I love it" })).status).toBe(403);
    await gqlOk(e.account, "mutation($id: ID!) { enableWebhookEndpoint(id: $id) { enabled } }", { id: e.id });
    expect((await post(e, { input: "I love it" })).status).toBe(202);
    await gqlOk(e.account, "mutation($id: ID!) { deleteWebhookEndpoint(id: $id) }", { id: e.id });
    expect((await post(e, { input: "I love it" })).status).toBe(404);
  });

  it("rotation: the new secret signs callbacks, the previous one still verifies posts during its grace", async () => {
    const e = await newEndpoint();
    const rotated = await gqlOk<{ rotateWebhookSecret: { signingSecret: string; endpoint: { secretRotatedAt: string } } }>(
      e.account, "mutation($id: ID!) { rotateWebhookSecret(id: $id) { signingSecret endpoint { secretRotatedAt } } }", { id: e.id },
    );
    const fresh = rotated.rotateWebhookSecret.signingSecret;
    expect(fresh).not.toBe(e.secret);
    expect(rotated.rotateWebhookSecret.endpoint.secretRotatedAt).toBeTruthy();
    expect((await post(e, { input: "old secret" })).status).toBe(202);
    expect((await post(e, { input: "new secret" }, { secret: fresh })).status).toBe(202);
    expect((await post(e, { input: "no secret" }, { secret: "whsec_guess" })).status).toBe(401);
  });

  it("rotation with graceSeconds: 0 revokes the previous secret at once; the grace is bounded", async () => {
    const e = await newEndpoint();
    const rotate = (graceSeconds?: number) => gql<{ rotateWebhookSecret: { signingSecret: string } }>(
      e.account, "mutation($id: ID!, $g: Int) { rotateWebhookSecret(id: $id, graceSeconds: $g) { signingSecret } }", { id: e.id, g: graceSeconds },
    );
    const revoked = await rotate(0);
    const fresh = revoked.data!.rotateWebhookSecret.signingSecret;
    const tellReceiver = (secret: string) => fetch(`${receiver}/__callbacks/secret`, { method: "POST", body: JSON.stringify({ name: e.name, secret }) });
    await tellReceiver(fresh); // callbacks are signed with the newest secret
    const old = await post(e, { input: "old secret after revoke" });
    expect(old.status).toBe(401);
    expect(JSON.stringify(old.json)).toMatch(/does not match/);
    expect((await post(e, { input: "new secret after revoke" }, { secret: fresh })).status).toBe(202);
    for (const bad of [-1, 7 * 24 * 3600 + 1]) {
      const refused = await rotate(bad);
      expect(codes(refused)).toEqual(["VALIDATION_FAILED"]);
      expect(refused.errors[0]!.extensions!.issues![0]!.path).toBe("graceSeconds");
    }
    // A short grace: the previous secret verifies until it ends, then not.
    const short = (await rotate(60)).data!.rotateWebhookSecret.signingSecret;
    await tellReceiver(short);
    expect((await post(e, { input: "previous within grace" }, { secret: fresh })).status).toBe(202);
    expect((await post(e, { input: "newest" }, { secret: short })).status).toBe(202);
    await env.DB.prepare("UPDATE webhook_endpoints SET previous_secret_expires_at = ? WHERE id = ?").bind(new Date(Date.now() - 1000).toISOString(), e.id).run();
    expect((await post(e, { input: "previous after grace" }, { secret: fresh })).status).toBe(401);
  });
});

describe("signed inbound posts", () => {
  it("refuses a missing, wrong or stale signature with 401 and a reason", async () => {
    const e = await newEndpoint();
    const missing = await post(e, { input: "hi" }, { signature: null });
    expect(missing.status).toBe(401);
    expect(JSON.stringify(missing.json)).toMatch(/no v1= signature/);
    const wrong = await post(e, { input: "hi" }, { signature: `v1=${"0".repeat(64)}` });
    expect(JSON.stringify(wrong.json)).toMatch(/does not match/);
    const stale = await post(e, { input: "hi" }, { timestamp: Math.floor(Date.now() / 1000) - 301 });
    expect(stale.status).toBe(401);
    expect(JSON.stringify(stale.json)).toMatch(/more than 300 s/);
    // A signature over another body does not carry over.
    const raw = JSON.stringify({ input: "a" });
    const ts = String(Math.floor(Date.now() / 1000));
    const swapped = await post(e, { input: "b" }, { signature: `v1=${await hmacHex(e.secret, `${ts}.${raw}`)}`, timestamp: Number(ts) });
    expect(swapped.status).toBe(401);
    expect(await executionsOf(e.taskId)).toEqual([]);
  });

  it("refuses bodies executeTask would not take (400), and unknown endpoints (404)", async () => {
    const e = await newEndpoint();
    expect((await post(e, "{ not json")).status).toBe(400);
    expect((await post(e, { input: "   " })).status).toBe(400);
    expect((await post(e, { input: "hi", extra: 1 })).status).toBe(400);
    expect((await post({ id: "no-such-endpoint", secret: e.secret }, { input: "hi" })).status).toBe(404);
  });

  it("an Idempotency-Key makes a retried post return the first delivery and execute once; another body is 409", async () => {
    const e = await newEndpoint();
    const first = await post(e, { input: "I love it" }, { key: "order-1" });
    const again = await post(e, { input: "I love it" }, { key: "order-1" });
    expect(first.status).toBe(202);
    expect(again.json).toEqual({ deliveryId: (first.json as { deliveryId: string }).deliveryId, replayed: true });
    expect((await post(e, { input: "something else" }, { key: "order-1" })).status).toBe(409);
    await until("delivered", () => delivery(e, (first.json as { deliveryId: string }).deliveryId), settled);
    expect((await executionsOf(e.taskId)).length).toBe(1);
  });
});

describe("replayed posts", () => {
  it("the same signed post sent 3 times without Idempotency-Key is one delivery and one execution", async () => {
    const e = await newEndpoint();
    const timestamp = Math.floor(Date.now() / 1000);
    const body = { input: "I love it", metadata: { ticket: "T-1" } };
    const answers = [];
    for (let i = 0; i < 3; i++) answers.push(await post(e, body, { timestamp }));
    expect(answers.map((a) => a.status)).toEqual([202, 202, 202]);
    const deliveryId = (answers[0]!.json as { deliveryId: string }).deliveryId;
    expect(answers.map((a) => a.json)).toEqual([
      { deliveryId, replayed: false }, { deliveryId, replayed: true }, { deliveryId, replayed: true },
    ]);
    // The Idempotency-Key is not signed: a replay that adds one, or changes it, is still the same post.
    expect((await post(e, body, { timestamp, key: "made-up" })).json).toEqual({ deliveryId, replayed: true });
    // Replayed concurrently too.
    const burst = await Promise.all(Array.from({ length: 5 }, () => post(e, body, { timestamp })));
    expect(burst.map((a) => a.json)).toEqual(Array.from({ length: 5 }, () => ({ deliveryId, replayed: true })));
    await until("delivered", () => delivery(e, deliveryId), settled);
    expect((await executionsOf(e.taskId)).length).toBe(1);
    expect((await callbacks(e)).length).toBe(1);
    // A new post (signed at another time, or over another body) is a new delivery.
    const next = await post(e, body, { timestamp: timestamp - 1 });
    expect(next.json).toMatchObject({ replayed: false });
    expect((next.json as { deliveryId: string }).deliveryId).not.toBe(deliveryId);
  });

  it("a signed post keyed once and replayed under another key is still one delivery", async () => {
    const e = await newEndpoint();
    const timestamp = Math.floor(Date.now() / 1000);
    const first = await post(e, { input: "Worst purchase ever" }, { timestamp, key: "order-7" });
    const replay = await post(e, { input: "Worst purchase ever" }, { timestamp, key: "order-8" });
    expect(replay.json).toEqual({ deliveryId: (first.json as { deliveryId: string }).deliveryId, replayed: true });
    const rows = await env.DB.prepare("SELECT COUNT(*) AS n FROM webhook_deliveries WHERE endpoint_id = ?").bind(e.id).first<{ n: number }>();
    expect(rows!.n).toBe(1);
  });
});

/** A signed post accepted straight through acceptPost, its queue message captured instead of sent. */
async function acceptSigned(e: { id: string; secret: string }): Promise<{ deliveryId: string; sent: WebhookMessage[] }> {
  const sent: WebhookMessage[] = [];
  const capture = { ...env, WEBHOOK_QUEUE: { send: async (m: WebhookMessage) => void sent.push(m) } } as unknown as WebhookEnv;
  const raw = JSON.stringify({ input: "Fantastic support" });
  const ts = String(Math.floor(Date.now() / 1000));
  const headers = new Headers({ "x-adaptagent-timestamp": ts, "x-adaptagent-signature": `v1=${await hmacHex(e.secret, `${ts}.${raw}`)}` });
  const { deliveryId } = await acceptPost(env.DB, capture, e.id, headers, raw);
  return { deliveryId, sent };
}

describe("delivery through the queue", () => {
  it("checks the callback URL again before every callback: a URL the rules now refuse is not posted to", async () => {
    const e = await newEndpoint();
    const { deliveryId } = await acceptSigned(e);
    // Stored under older rules (a trailing-dot name passed them).
    await env.DB.prepare("UPDATE webhook_endpoints SET callback_url = ? WHERE id = ?").bind("https://localhost./hook", e.id).run();
    const outcome = await processDelivery(e.account.deps, deliveryId, 1);
    expect(outcome.ack).toBe(false);
    expect(await delivery(e, deliveryId)).toMatchObject({ status: "succeeded", callbackStatus: null, lastError: expect.stringMatching(/^callbackUrl must not point at localhost/) });
    expect((await callbacks(e)).length).toBe(0);
  });

  it("executes once and posts the signed Execution to the callback", async () => {
    const e = await newEndpoint();
    const res = await post(e, { input: "I love it", metadata: { ticket: 4711 } });
    expect(res.status).toBe(202);
    const id = (res.json as { deliveryId: string }).deliveryId;
    const done = await until("delivered", () => delivery(e, id), settled);
    expect(done).toMatchObject({ status: "delivered", attempts: 1, callbackStatus: 200, lastError: null });
    expect(await executionsOf(e.taskId)).toEqual([done.executionId]);
    const got = await callbacks(e);
    expect(got).toHaveLength(1);
    expect(got[0]).toMatchObject({
      signatureValid: true, status: 200, delivery: id,
      body: { type: "execution.completed", deliveryId: id, endpointId: e.id, taskId: e.taskId, metadata: { ticket: 4711 },
        execution: { id: done.executionId, input: "I love it", status: "succeeded" }, error: null },
    });
    expect(JSON.stringify(got[0]!.body)).not.toContain("accountId");
    const seen = await gqlOk<{ webhookDelivery: { status: string; execution: { id: string } } }>(
      e.account, "query($id: ID!) { webhookDelivery(id: $id) { status execution { id } } }", { id },
    );
    expect(seen.webhookDelivery).toEqual({ status: "delivered", execution: { id: done.executionId } });
  });

  it("retries a failing callback with backoff until it answers, without executing again", async () => {
    const e = await newEndpoint("fail-2");
    const id = ((await post(e, { input: "Worst purchase ever" })).json as { deliveryId: string }).deliveryId;
    const done = await until("delivered", () => delivery(e, id), settled);
    expect(done).toMatchObject({ status: "delivered", attempts: 3, callbackStatus: 200 });
    expect((await callbacks(e)).map((c) => c.status)).toEqual([500, 500, 200]);
    expect((await executionsOf(e.taskId)).length).toBe(1);
  });

  it("after the last attempt the delivery is dead (dead-letter queue), and redeliver tries again", async () => {
    const e = await newEndpoint("always-500");
    const id = ((await post(e, { input: "This is broken again" })).json as { deliveryId: string }).deliveryId;
    const dead = await until("dead", () => delivery(e, id), (d) => d.status === "dead", 40_000);
    expect(dead).toMatchObject({ attempts: 6, callbackStatus: 500, lastError: "the callback answered 500" }); // 1 + max_retries 5
    expect((await callbacks(e)).length).toBe(6);
    const again = await gqlOk<{ redeliver: { status: string } }>(e.account, "mutation($id: ID!) { redeliver(deliveryId: $id) { status } }", { id });
    expect(again.redeliver.status).toBe("succeeded"); // executed already: only the callback is retried
    await until("more callbacks", () => callbacks(e), (c) => c.length > 6);
    expect((await executionsOf(e.taskId)).length).toBe(1);
  });

  it("a callback that does not answer in time counts as failed", async () => {
    const e = await newEndpoint("slow");
    const id = ((await post(e, { input: "I love it" })).json as { deliveryId: string }).deliveryId;
    const failing = await until("an attempt", () => delivery(e, id), (d) => d.lastError !== null);
    expect(failing.lastError).toBe("the callback did not answer in time");
  });

  it("a message delivered twice, or a consumer that dies mid-message, still ends with one Execution", async () => {
    const e = await newEndpoint();
    const { deliveryId, sent } = await acceptSigned(e);
    expect(sent).toEqual([{ deliveryId, accountId: e.account.accountId }]);
    // The consumer dies right after the Execution is stored (its status update fails).
    const dying = {
      ...e.account.deps,
      db: new Proxy(e.account.deps.db, {
        get(target, name) {
          if (name === "prepare") {
            return (sql: string) => {
              if (sql.includes("outcome = ?")) throw new Error("isolate went away");
              return target.prepare(sql);
            };
          }
          const value = Reflect.get(target, name) as unknown;
          return typeof value === "function" ? (value as (...a: unknown[]) => unknown).bind(target) : value;
        },
      }),
    };
    await expect(processDelivery(dying, deliveryId, 1)).rejects.toThrow(/isolate went away/);
    expect((await executionsOf(e.taskId)).length).toBe(1);
    // The queue retries, and also delivers the message twice.
    expect(await processDelivery(e.account.deps, deliveryId, 2)).toEqual({ ack: true });
    expect(await processDelivery(e.account.deps, deliveryId, 3)).toEqual({ ack: true });
    expect((await executionsOf(e.taskId)).length).toBe(1);
    expect((await callbacks(e)).length).toBe(1);
    expect(await delivery(e, deliveryId)).toMatchObject({ status: "delivered", attempts: 2 });
  });

  it("a delivery whose queue message was lost is queued again by the cron's sweep, once it has not moved for 30 minutes", async () => {
    const e = await newEndpoint();
    const lost = { ...env, WEBHOOK_QUEUE: { send: async () => undefined } } as unknown as WebhookEnv; // the message vanishes
    const raw = JSON.stringify({ input: "It stopped working after a day" });
    const ts = String(Math.floor(Date.now() / 1000));
    const headers = new Headers({ "x-adaptagent-timestamp": ts, "x-adaptagent-signature": `v1=${await hmacHex(e.secret, `${ts}.${raw}`)}` });
    const { deliveryId } = await acceptPost(env.DB, lost, e.id, headers, raw);
    expect(await sweepStuckDeliveries(env.DB, env as WebhookEnv)).toBe(0); // just accepted: not stuck
    const later = Date.now() + STUCK_AFTER_MS + 60_000;
    expect(await sweepStuckDeliveries(env.DB, env as WebhookEnv, later)).toBeGreaterThanOrEqual(1); // ours, and any other unsettled one
    const done = await until("swept delivery delivered", () => delivery(e, deliveryId), settled);
    expect(done).toMatchObject({ status: "delivered" });
    expect((await executionsOf(e.taskId)).length).toBe(1);
    expect((await callbacks(e)).length).toBe(1);
    const touched = await env.DB.prepare("SELECT updated_at FROM webhook_deliveries WHERE id = ?").bind(deliveryId).first<{ updated_at: string }>();
    await sweepStuckDeliveries(env.DB, env as WebhookEnv, later + STUCK_AFTER_MS);
    expect(await env.DB.prepare("SELECT updated_at FROM webhook_deliveries WHERE id = ?").bind(deliveryId).first()).toEqual(touched); // a settled one is left alone
  });
});
