// Where the service may post webhook results. A tenant chooses the URL, and the Worker posts to it, so a
// URL aimed at the Worker's own network is refused: https only; no loopback, private, link-local,
// carrier-grade-NAT, unique-local, multicast or reserved address literals (ipaddr.js names the ranges);
// no localhost or cloud metadata host names. Local development and tests name their receivers in
// WEBHOOK_ALLOWED_CALLBACK_URLS (comma-separated prefixes, exact scheme and host), which bypass the rules.
// A name is checked without its trailing dots, an IPv6 address carrying an IPv4 one by that IPv4 address.
// The check runs again before every callback (functions/webhookDeliveries.ts), so a URL stored under
// older rules, or an allow-list entry since removed, is not posted to. What a public name resolves to
// cannot be seen from a Worker (no DNS API; fetch resolves on its own), but Cloudflare's fetch does not
// reach private networks from the edge.
import ipaddr from "ipaddr.js";
import type { FieldIssue } from "./errors";

export type CallbackEnv = Env & { WEBHOOK_ALLOWED_CALLBACK_URLS?: string };

const BLOCKED_HOSTS = /^(localhost|.*\.localhost|.*\.local|.*\.internal|metadata|instance-data)$/i;
const PUBLIC_RANGES = new Set(["unicast"]);

export const MAX_CALLBACK_URL = 2048;

/**
 * The range of an address, an IPv6 one that carries an IPv4 address in its low 32 bits classed by that
 * address: IPv4-mapped (::ffff:a.b.c.d) and the deprecated IPv4-compatible form (::a.b.c.d, which
 * ipaddr.js calls unicast), so [::127.0.0.1] and [::a9fe:a9fe] are loopback and link-local. Other
 * embeddings (NAT64, 6to4, Teredo) keep their own, non-public, range.
 */
function addressRange(address: ipaddr.IPv4 | ipaddr.IPv6): string {
  if (address.kind() === "ipv4") return address.range();
  const v6 = address as ipaddr.IPv6;
  const parts = v6.parts;
  const compatible = parts.slice(0, 6).every((p) => p === 0) && (parts[6] !== 0 || parts[7]! > 1); // not :: or ::1
  if (v6.isIPv4MappedAddress() || compatible) {
    const bytes = v6.toByteArray().slice(12);
    return new ipaddr.IPv4(bytes).range();
  }
  return v6.range();
}

/** The issue with `url` as a callback, or null when the service may post to it. */
export function callbackUrlIssue(env: CallbackEnv, url: string): FieldIssue | null {
  const issue = (message: string): FieldIssue => ({ path: "callbackUrl", message });
  if (url.length > MAX_CALLBACK_URL) return issue(`must be at most ${MAX_CALLBACK_URL} characters`);
  let parsed: URL;
  try {
    parsed = new URL(url);
  } catch {
    return issue("must be an absolute URL");
  }
  if (parsed.username || parsed.password) return issue("must not carry credentials");
  const allowed = (env.WEBHOOK_ALLOWED_CALLBACK_URLS ?? "").split(",").map((u) => u.trim()).filter(Boolean);
  if (allowed.some((prefix) => url.startsWith(prefix))) return null;
  if (parsed.protocol !== "https:") return issue("must use https");
  // A name's trailing dots only make it absolute: "localhost." is localhost.
  const host = parsed.hostname.replace(/^\[|\]$/g, "").replace(/\.+$/, "");
  if (BLOCKED_HOSTS.test(host)) return issue(`must not point at ${host}: not a public host`);
  if (ipaddr.isValid(host)) {
    const range = addressRange(ipaddr.parse(host));
    if (!PUBLIC_RANGES.has(range)) return issue(`must not point at a ${range} address`);
  } else if (!host.includes(".")) {
    return issue("must name a public host (a fully qualified name or a public address)");
  }
  return null;
}
