// Secrets the service must read back in clear (webhook signing secrets: HMAC needs the key itself), sealed
// with AES-256-GCM under the Worker secret WEBHOOK_SECRETS_KEY (32 bytes, base64). A sealed value is
// "v1.<iv>.<ciphertext>" in base64url; the record's id is bound as associated data, so a sealed secret
// copied onto another row does not open. Without the key, nothing that needs it can run (a typed 503).
import { fromBase64Url, toBase64Url } from "./base64url";
import { AppError } from "./errors";

export type SecretsEnv = Env & { WEBHOOK_SECRETS_KEY?: string };

const keys = new Map<string, Promise<CryptoKey>>();

export const notConfigured = () =>
  new AppError(
    "WEBHOOKS_NOT_CONFIGURED",
    "Webhooks are not configured: set the WEBHOOK_SECRETS_KEY secret (32 random bytes, base64).",
    503,
  );

function keyFor(env: SecretsEnv): Promise<CryptoKey> {
  const raw = env.WEBHOOK_SECRETS_KEY?.trim();
  if (!raw) throw notConfigured();
  let pending = keys.get(raw);
  if (!pending) {
    const bytes = fromBase64Url(raw);
    if (bytes.length !== 32) throw notConfigured();
    pending = crypto.subtle.importKey("raw", bytes, "AES-GCM", false, ["encrypt", "decrypt"]);
    keys.set(raw, pending);
  }
  return pending;
}

export async function seal(env: SecretsEnv, plaintext: string, recordId: string): Promise<string> {
  const key = await keyFor(env);
  const iv = crypto.getRandomValues(new Uint8Array(12));
  const data = new TextEncoder().encode(plaintext);
  const sealed = await crypto.subtle.encrypt({ name: "AES-GCM", iv, additionalData: new TextEncoder().encode(recordId) }, key, data);
  return `v1.${toBase64Url(iv)}.${toBase64Url(new Uint8Array(sealed))}`;
}

export async function open(env: SecretsEnv, sealed: string, recordId: string): Promise<string> {
  const key = await keyFor(env);
  const [version, iv, body] = sealed.split(".");
  if (version !== "v1" || !iv || !body) throw new Error("not a sealed secret");
  const plain = await crypto.subtle.decrypt(
    { name: "AES-GCM", iv: fromBase64Url(iv), additionalData: new TextEncoder().encode(recordId) },
    key,
    fromBase64Url(body),
  );
  return new TextDecoder().decode(plain);
}

/** A new random secret: 32 bytes, "whsec_" + base64url (the prefix tells users what it is). */
export function newSigningSecret(): string {
  return `whsec_${toBase64Url(crypto.getRandomValues(new Uint8Array(32)))}`;
}
