// API keys from the command line: an account and its first key, in local D1 (`wrangler dev`'s state)
// or in the deployed database. Keys are `aa_` + 43 base64url characters; only their SHA-256 is stored,
// so a key is shown once, when it is created.
import { createHash, randomBytes, randomUUID } from "node:crypto";
import { d1, sqlString as q } from "./wrangler.mjs";

export const keyHash = (key) => createHash("sha256").update(key).digest("hex");

/** True when `key` is a stored key (local or remote D1). */
export function keyExists(key, state = {}) {
  return d1(`SELECT COUNT(*) AS n FROM api_keys WHERE key_hash = ${q(keyHash(key))}`, state)[0].n > 0;
}

/** Creates an account and a key for it in one D1 batch; returns the key (never stored in clear). */
export function createAccountKey({ account = "default", label = "", admin = false, ...state } = {}) {
  const key = `aa_${randomBytes(32).toString("base64url")}`;
  const accountId = randomUUID();
  d1(
    `INSERT INTO accounts (id, name) VALUES (${q(accountId)}, ${q(account)});` +
      `INSERT INTO api_keys (id, account_id, key_hash, label, is_admin) VALUES (${q(randomUUID())}, ${q(accountId)}, ${q(keyHash(key))}, ${q(label)}, ${admin ? 1 : 0});`,
    state,
  );
  return { key, accountId };
}
