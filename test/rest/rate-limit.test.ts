// Rate limits through the Worker's fetch handler, counted by the real Rate Limiting binding that
// miniflare runs (wrangler.toml [[ratelimits]]). Each test uses its own client address or key, so the
// counts of other test files (a dozen failed authentications from "local") never reach these.
import { env } from "cloudflare:workers";
import { describe, expect, it } from "vitest";
import { clientAddress, RATE_LIMITS } from "../../workers/rateLimit";
import { call, newAccount, newTask } from "../support/fixtures";

const WRONG_KEY = `Bearer aa_${"B".repeat(43)}`;

function from(address: string, authorization: string) {
  return { authorization, "content-type": "application/json", "cf-connecting-ip": address };
}

/**
 * Sends `send` until it is refused; the binding's counts start afresh each period, so a run that
 * straddles a period boundary needs up to twice the limit. Returns the refusal and the 401s before it.
 */
async function untilRefused(limit: number, send: () => ReturnType<typeof call>) {
  const statuses: number[] = [];
  for (let i = 0; i <= 2 * limit; i++) {
    const res = await send();
    if (res.status === 429) return { refused: res, statuses };
    statuses.push(res.status);
  }
  throw new Error(`never refused after ${statuses.length} attempts`);
}

describe("failed authentications per address", () => {
  it("counts under CF-Connecting-IP only behind Cloudflare's edge: a client's own header picks nothing elsewhere", () => {
    const spoofed = new Request("http://local/tasks", { headers: { "cf-connecting-ip": "192.0.2.77" } });
    expect(clientAddress(spoofed, { TRUST_CF_CONNECTING_IP: "true" })).toBe("192.0.2.77");
    expect(clientAddress(spoofed, { TRUST_CF_CONNECTING_IP: "false" })).toBe("local");
    expect(clientAddress(spoofed, {})).toBe("local");
    expect(clientAddress(new Request("http://local/tasks"), { TRUST_CF_CONNECTING_IP: "true" })).toBe("local");
    // The deployed configuration (wrangler.toml, which these tests run under) trusts it.
    expect((env as { TRUST_CF_CONNECTING_IP?: string }).TRUST_CF_CONNECTING_IP).toBe("true");
  });

  it(`answers 429 after ${RATE_LIMITS.authFailuresPerAddress.limit} wrong keys, then refuses even a right key from that address`, async () => {
    const address = `198.51.100.${Math.floor(Math.random() * 250) + 1}`;
    const { limit, period } = RATE_LIMITS.authFailuresPerAddress;
    const { refused, statuses } = await untilRefused(limit, () => call("/tasks", { body: {}, headers: from(address, WRONG_KEY) }));
    expect(statuses.length).toBeGreaterThanOrEqual(limit);
    expect(new Set(statuses)).toEqual(new Set([401]));
    expect((refused.json as { error: { code: string } }).error.code).toBe("RATE_LIMITED");
    expect(Number(refused.headers.get("retry-after"))).toBeGreaterThan(0);
    expect(Number(refused.headers.get("retry-after"))).toBeLessThanOrEqual(period);

    // A guesser who finds a right key meanwhile learns nothing: the address is refused before any lookup.
    const account = await newAccount();
    const task = await newTask(account.deps);
    const right = await call("/execute_task", { body: { taskId: task.id, input: "I love it" }, headers: from(address, account.headers.authorization!) });
    expect(right.status).toBe(429);
    // GraphQL from that address too, GraphQL-shaped.
    const gql = await call("/graphql", { body: { query: "{ llm { configured } }" }, headers: from(address, account.headers.authorization!) });
    expect(gql.status).toBe(429);
    expect((gql.json as { errors: { extensions: { code: string } }[] }).errors[0]?.extensions.code).toBe("RATE_LIMITED");
    // Other addresses are not affected.
    const elsewhere = await call("/execute_task", { body: { taskId: task.id, input: "I love it" }, headers: from("203.0.113.9", account.headers.authorization!) });
    expect(elsewhere.status).toBe(200);
  });

  it("counts wrong keys sent to /graphql, but not the GraphiQL page or requests without a key", async () => {
    const address = `198.51.100.${Math.floor(Math.random() * 250) + 1}:g`;
    const { limit } = RATE_LIMITS.authFailuresPerAddress;
    for (let i = 0; i < limit + 5; i++) {
      const page = await call("/graphql", { headers: { accept: "text/html", "cf-connecting-ip": address } });
      expect(page.status).toBe(200);
    }
    const { refused, statuses } = await untilRefused(limit, () =>
      call("/graphql", { body: { query: "{ llm { configured } }" }, headers: from(address, WRONG_KEY) }));
    expect(statuses.length).toBeGreaterThanOrEqual(limit);
    expect(new Set(statuses)).toEqual(new Set([401]));
    expect(refused.status).toBe(429);
  });
});

describe("requests per API key", () => {
  it(`answers 429 once a key made ${RATE_LIMITS.perKey.limit} requests in the period; other keys go on`, async () => {
    const busy = await newAccount();
    const task = await newTask(busy.deps);
    const { id: keyId } = (await env.DB.prepare("SELECT id FROM api_keys WHERE account_id = ?").bind(busy.accountId).first<{ id: string }>())!;
    // Spend the key's budget through the binding itself (what the middleware calls once per request),
    // until the binding says it is spent, so the next request with it is refused before it does any
    // work. (A period boundary between the two would reset the count: then spend and try once more.)
    let refused = { status: 0 } as Awaited<ReturnType<typeof call>>;
    for (let attempt = 0; attempt < 2 && refused.status !== 429; attempt++) {
      for (let n = 0; n <= 2 * RATE_LIMITS.perKey.limit && (await env.KEY_RATE_LIMIT.limit({ key: keyId })).success; n++);
      refused = await call("/execute_task", { body: { taskId: task.id, input: "I love it" }, headers: busy.headers });
    }
    expect(refused.status).toBe(429);
    expect((refused.json as { error: { code: string; message: string } }).error.message).toContain("API key");
    const { results } = await env.DB.prepare("SELECT id FROM executions WHERE account_id = ?").bind(busy.accountId).all();
    expect(results).toEqual([]);

    const other = await newAccount();
    const otherTask = await newTask(other.deps);
    expect((await call("/execute_task", { body: { taskId: otherTask.id, input: "I love it" }, headers: other.headers })).status).toBe(200);
  });
});
