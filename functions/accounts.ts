// Tenancy: an account owns every agent and everything below it. Requests authenticate with an API key
// `aa_<43 base64url chars>` (32 random bytes); D1 stores only the lowercase hex SHA-256 of the full key.
import { newId } from "./ids";
import { toBase64Url } from "./base64url";
import { unauthenticated } from "./errors";

export interface Auth {
  accountId: string;
  isAdmin: boolean; // may register/activate model versions
  keyId?: string; // the API key's row id: what per-key rate limits count
}

const KEY_PATTERN = /^aa_[A-Za-z0-9_-]{43}$/;

export async function hashApiKey(apiKey: string): Promise<string> {
  const digest = await crypto.subtle.digest("SHA-256", new TextEncoder().encode(apiKey));
  return [...new Uint8Array(digest)].map((b) => b.toString(16).padStart(2, "0")).join("");
}

export function generateApiKey(): string {
  return `aa_${toBase64Url(crypto.getRandomValues(new Uint8Array(32)))}`;
}

/**
 * How long this isolate trusts a key it has verified without asking D1 again. Every authenticated
 * request used to start with a D1 read of its key; under load that read was about half the cost of an
 * execute. The price: a key deleted from `api_keys` keeps working for up to this long in isolates that
 * saw it (docs/security.md). Only keys that authenticated are remembered: an unknown key is looked up
 * every time and counted by the per-address failure limit.
 */
export const KEY_CACHE_TTL_MS = 30_000;
const KEY_CACHE_MAX = 10_000; // keys; the oldest entry goes first when full

const verifiedKeys = new Map<string, { auth: Auth; until: number }>(); // key hash → auth; per isolate

/**
 * `Authorization: Bearer aa_…` → the key's account; throws UNAUTHENTICATED for anything else.
 * A key verified in the last KEY_CACHE_TTL_MS is answered from this isolate's memory. `defer` (the
 * Worker's waitUntil) receives the write that refreshes the key's `last_used_at` when it is older than
 * 10 minutes (recording every request would add a D1 write to each one), so the response never waits
 * for it; the stamp is checked when the key is read from D1, i.e. at most every KEY_CACHE_TTL_MS.
 */
export async function authenticate(
  db: D1Database,
  authorizationHeader: string | null | undefined,
  defer?: (work: Promise<unknown>) => void,
  now = Date.now(),
): Promise<Auth> {
  const match = /^Bearer\s+(\S+)\s*$/i.exec(authorizationHeader ?? "");
  const apiKey = match?.[1];
  if (!apiKey || !KEY_PATTERN.test(apiKey)) throw unauthenticated();
  const keyHash = await hashApiKey(apiKey);
  const cached = verifiedKeys.get(keyHash);
  if (cached && cached.until > now) return { ...cached.auth };
  verifiedKeys.delete(keyHash);
  const row = await db
    .prepare(
      `SELECT id, account_id, is_admin,
              (last_used_at IS NULL OR last_used_at < datetime('now', '-10 minutes')) AS stale
       FROM api_keys WHERE key_hash = ?`,
    )
    .bind(keyHash)
    .first<{ id: string; account_id: string; is_admin: number; stale: number }>();
  if (!row) throw unauthenticated();
  if (defer && row.stale === 1) {
    defer(
      db
        .prepare("UPDATE api_keys SET last_used_at = datetime('now') WHERE id = ?")
        .bind(row.id)
        .run()
        .catch((error: unknown) => console.warn(JSON.stringify({ event: "api_key_touch_failed", error: String(error) }))),
    );
  }
  const auth: Auth = { accountId: row.account_id, isAdmin: row.is_admin === 1, keyId: row.id };
  if (verifiedKeys.size >= KEY_CACHE_MAX) verifiedKeys.delete(verifiedKeys.keys().next().value!);
  verifiedKeys.set(keyHash, { auth, until: now + KEY_CACHE_TTL_MS });
  return { ...auth };
}

/** Creates an account and its first key in one batch; the plain key is returned once and never stored. */
export async function createAccountWithKey(
  db: D1Database,
  name: string,
  options: { isAdmin?: boolean; label?: string } = {},
): Promise<{ accountId: string; apiKey: string }> {
  const accountId = newId();
  const apiKey = generateApiKey();
  await db.batch([
    db.prepare("INSERT INTO accounts (id, name) VALUES (?, ?)").bind(accountId, name),
    db
      .prepare("INSERT INTO api_keys (id, account_id, key_hash, label, is_admin) VALUES (?, ?, ?, ?, ?)")
      .bind(newId(), accountId, await hashApiKey(apiKey), options.label ?? "", options.isAdmin ? 1 : 0),
  ]);
  return { accountId, apiKey };
}

/** Whether an account of this id exists (an account's own ModelVersion must name one). */
export async function accountExists(db: D1Database, accountId: string): Promise<boolean> {
  return (await db.prepare("SELECT 1 AS one FROM accounts WHERE id = ?").bind(accountId).first()) !== null;
}

