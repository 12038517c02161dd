// Webhook signatures, the scheme Stripe's and GitHub's users know: the header
// `X-Adaptagent-Signature: v1=<hex HMAC-SHA256(secret, "<timestamp>.<raw body>")>` next to
// `X-Adaptagent-Timestamp: <Unix seconds>`. Checked with WebCrypto's HMAC verify (constant time), and
// refused when the timestamp is more than TOLERANCE_S away from now (a replayed post). Several `v1=`
// entries may be sent, comma-separated (a sender rolling its secret); one matching is enough.
export const SIGNATURE_HEADER = "x-adaptagent-signature";
export const TIMESTAMP_HEADER = "x-adaptagent-timestamp";
export const TOLERANCE_S = 300;

const hmacKey = (secret: string, usage: KeyUsage) =>
  crypto.subtle.importKey("raw", new TextEncoder().encode(secret), { name: "HMAC", hash: "SHA-256" }, false, [usage]);

const signedBytes = (timestamp: string, body: string) => new TextEncoder().encode(`${timestamp}.${body}`);

/** The header value for `body` sent at `timestamp` (Unix seconds, as sent). */
export async function sign(secret: string, timestamp: string, body: string): Promise<string> {
  const mac = await crypto.subtle.sign("HMAC", await hmacKey(secret, "sign"), signedBytes(timestamp, body));
  return `v1=${[...new Uint8Array(mac)].map((b) => b.toString(16).padStart(2, "0")).join("")}`;
}

export type SignatureCheck = { ok: true } | { ok: false; reason: string };

/** Whether `header` signs `body` at `timestamp` under one of `secrets`, within the tolerance of `nowS`. */
export async function verifySignature(
  secrets: string[],
  timestamp: string | null,
  header: string | null,
  body: string,
  nowS = Math.floor(Date.now() / 1000),
): Promise<SignatureCheck> {
  if (!timestamp || !/^\d{1,12}$/.test(timestamp)) return { ok: false, reason: "X-Adaptagent-Timestamp is missing or not Unix seconds" };
  if (Math.abs(nowS - Number(timestamp)) > TOLERANCE_S) {
    return { ok: false, reason: `the timestamp is more than ${TOLERANCE_S} s away from the server's clock` };
  }
  const candidates = (header ?? "")
    .split(",")
    .map((part) => part.trim())
    .filter((part) => part.startsWith("v1=") && /^[0-9a-f]{64}$/i.test(part.slice(3)))
    .map((part) => Uint8Array.from(part.slice(3).match(/../g)!, (h) => parseInt(h, 16)));
  if (candidates.length === 0) return { ok: false, reason: "X-Adaptagent-Signature is missing or has no v1= signature" };
  const data = signedBytes(timestamp, body);
  for (const secret of secrets) {
    const key = await hmacKey(secret, "verify");
    for (const mac of candidates) if (await crypto.subtle.verify("HMAC", key, mac, data)) return { ok: true };
  }
  return { ok: false, reason: "the signature does not match" };
}
