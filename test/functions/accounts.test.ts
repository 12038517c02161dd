import { env } from "cloudflare:workers";
import { describe, expect, it } from "vitest";
import { authenticate, createAccountWithKey, hashApiKey, KEY_CACHE_TTL_MS } from "../../functions/accounts";
import { AppError } from "../../functions/errors";

describe("accounts and API keys", () => {
  it("creates a key aa_<43 base64url>, storing only its SHA-256", async () => {
    const { accountId, apiKey } = await createAccountWithKey(env.DB, "acme", { isAdmin: true, label: "ci" });
    expect(apiKey).toMatch(/^aa_[A-Za-z0-9_-]{43}$/);
    const rows = await env.DB.prepare("SELECT * FROM api_keys WHERE account_id = ?").bind(accountId).all<Record<string, unknown>>();
    expect(rows.results).toHaveLength(1);
    expect(rows.results[0]).toMatchObject({ key_hash: await hashApiKey(apiKey), is_admin: 1, label: "ci" });
    expect(JSON.stringify(rows.results)).not.toContain(apiKey.slice(3));
  });

  it("hashes like `sha256sum`: lowercase hex of the full key string", async () => {
    expect(await hashApiKey("abc")).toBe("ba7816bf8f01cfea414140de5dae2223b00361a396177a9cb410ff61f20015ad");
  });

  it("authenticates a Bearer key to its account and admin flag", async () => {
    const admin = await createAccountWithKey(env.DB, "a", { isAdmin: true });
    const user = await createAccountWithKey(env.DB, "b");
    const keyOf = (accountId: string) => env.DB.prepare("SELECT id FROM api_keys WHERE account_id = ?").bind(accountId).first<string>("id");
    expect(await authenticate(env.DB, `Bearer ${admin.apiKey}`)).toEqual({ accountId: admin.accountId, isAdmin: true, keyId: await keyOf(admin.accountId) });
    expect(await authenticate(env.DB, `bearer ${user.apiKey}`)).toEqual({ accountId: user.accountId, isAdmin: false, keyId: await keyOf(user.accountId) });
  });

  it("records when a key was last used, off the request path and at most every 10 minutes", async () => {
    const later = Date.now() + 2 * KEY_CACHE_TTL_MS; // past the isolate's memory of the key: read from D1 again
    const { apiKey } = await createAccountWithKey(env.DB, "c");
    const keyHash = await hashApiKey(apiKey);
    const lastUsed = () => env.DB.prepare("SELECT last_used_at FROM api_keys WHERE key_hash = ?").bind(keyHash).first<string>("last_used_at");
    const deferred: Promise<unknown>[] = [];
    const defer = (work: Promise<unknown>) => void deferred.push(work);
    expect(await lastUsed()).toBeNull();
    await authenticate(env.DB, `Bearer ${apiKey}`, defer);
    expect(deferred).toHaveLength(1);
    await Promise.all(deferred);
    const first = await lastUsed();
    expect(first).toMatch(/^\d{4}-\d\d-\d\d \d\d:\d\d:\d\d$/);
    await authenticate(env.DB, `Bearer ${apiKey}`, defer); // fresh: no second write
    expect(deferred).toHaveLength(1);
    // an old stamp is refreshed
    await env.DB.prepare("UPDATE api_keys SET last_used_at = '2020-01-01 00:00:00' WHERE key_hash = ?").bind(keyHash).run();
    await authenticate(env.DB, `Bearer ${apiKey}`, defer);
    expect(deferred).toHaveLength(1); // still remembered by this isolate: D1 not read, nothing written
    await authenticate(env.DB, `Bearer ${apiKey}`, defer, later);
    await Promise.all(deferred);
    expect(deferred).toHaveLength(2);
    expect(await lastUsed()).not.toBe("2020-01-01 00:00:00");
  });

  it("remembers a verified key for KEY_CACHE_TTL_MS: a deleted key is refused once that has passed", async () => {
    const { accountId, apiKey } = await createAccountWithKey(env.DB, "d");
    const other = await createAccountWithKey(env.DB, "e");
    const t0 = Date.now();
    const first = await authenticate(env.DB, `Bearer ${apiKey}`, undefined, t0);
    expect(first.accountId).toBe(accountId);
    await env.DB.prepare("DELETE FROM api_keys WHERE account_id = ?").bind(accountId).run();
    // within the window the isolate answers from memory, and only for that key
    expect(await authenticate(env.DB, `Bearer ${apiKey}`, undefined, t0 + KEY_CACHE_TTL_MS - 1)).toEqual(first);
    expect((await authenticate(env.DB, `Bearer ${other.apiKey}`, undefined, t0)).accountId).toBe(other.accountId);
    const error = await authenticate(env.DB, `Bearer ${apiKey}`, undefined, t0 + KEY_CACHE_TTL_MS).catch((e: unknown) => e);
    expect((error as AppError).code).toBe("UNAUTHENTICATED");
    // and it stays refused: a failed lookup is not remembered as a success
    const again = await authenticate(env.DB, `Bearer ${apiKey}`, undefined, t0).catch((e: unknown) => e);
    expect((again as AppError).code).toBe("UNAUTHENTICATED");
  });

  it.each([null, "", "Bearer", "Basic abc", `Bearer aa_${"x".repeat(42)}`, `Bearer aa_${"x".repeat(43)}`, "Bearer aa_x y"])(
    "rejects %j with UNAUTHENTICATED",
    async (header) => {
      const error = await authenticate(env.DB, header).catch((e: unknown) => e);
      expect(error).toBeInstanceOf(AppError);
      expect((error as AppError).code).toBe("UNAUTHENTICATED");
    },
  );
});
