// Where the service may post webhook results. A tenant chooses the URL, and the Worker posts to it, so a
// URL aimed at the Worker's own network is refused: https only; no loopback, private, link-local,
// carrier-grade-NAT, unique-local, multicast or reserved address literals (ipaddr.js names the ranges);
// no localhost or cloud metadata host names. Local development and tests name their receivers in
// WEBHOOK_ALLOWED_CALLBACK_URLS (comma-separated prefixes, exact scheme and host), which bypass the rules.
// A public host name that resolves to a private address cannot be seen from a Worker; Cloudflare's fetch
// does not reach private networks from the edge.
import ipaddr from "ipaddr.js";
import type { FieldIssue } from "./errors";

export type CallbackEnv = Env & { WEBHOOK_ALLOWED_CALLBACK_URLS?: string };

const BLOCKED_HOSTS = /^(localhost|.*\.localhost|.*\.local|.*\.internal|metadata|instance-data)$/i;
const PUBLIC_RANGES = new Set(["unicast"]);

export const MAX_CALLBACK_URL = 2048;

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
  const host = parsed.hostname.replace(/^\[|\]$/g, "");
  if (BLOCKED_HOSTS.test(host)) return issue(`must not point at ${host}: not a public host`);
  if (ipaddr.isValid(host)) {
    let address = ipaddr.parse(host);
    if (address.kind() === "ipv6" && (address as ipaddr.IPv6).isIPv4MappedAddress()) address = (address as ipaddr.IPv6).toIPv4Address();
    const range = address.range();
    if (!PUBLIC_RANGES.has(range)) return issue(`must not point at a ${range} address`);
  } else if (!host.includes(".")) {
    return issue("must name a public host (a fully qualified name or a public address)");
  }
  return null;
}
