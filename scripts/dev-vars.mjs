// Local secrets for `npm start`, kept in the ignored .dev.vars (wrangler dev reads it): what the service
// needs to run webhooks locally, generated once and never overwritten. A value the developer set stays.
import { randomBytes } from "node:crypto";
import { existsSync, readFileSync, writeFileSync } from "node:fs";

// The local receiver of scripts/webhook-receiver.mjs (README, "Webhooks"): plain http on loopback, which
// the callback URL rules refuse unless allow-listed.
export const LOCAL_RECEIVER = "http://127.0.0.1:8788/";

const DEFAULTS = {
  WEBHOOK_SECRETS_KEY: () => randomBytes(32).toString("base64url"), // seals webhook signing secrets in D1
  WEBHOOK_ALLOWED_CALLBACK_URLS: () => LOCAL_RECEIVER,
};

/** `text` (a .dev.vars file) with every missing default appended; the names that were added. */
export function withDevDefaults(text) {
  const present = new Set(
    text.split(/\r?\n/).map((line) => line.match(/^\s*([A-Za-z_][A-Za-z0-9_]*)\s*=/)?.[1]).filter(Boolean),
  );
  const added = Object.keys(DEFAULTS).filter((name) => !present.has(name));
  if (added.length === 0) return { text, added };
  const lines = added.map((name) => `${name}=${DEFAULTS[name]()}`);
  const base = text === "" || text.endsWith("\n") ? text : `${text}\n`;
  return { text: `${base}${lines.join("\n")}\n`, added };
}

/** Adds the missing defaults to the file (created with owner-only permissions if absent). */
export function ensureDevVars(path) {
  const before = existsSync(path) ? readFileSync(path, "utf8") : "";
  const { text, added } = withDevDefaults(before);
  if (added.length > 0) writeFileSync(path, text, { mode: 0o600 });
  return added;
}
