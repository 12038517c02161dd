// Rate limits, counted by the Workers Rate Limiting binding (wrangler.toml `[[ratelimits]]`; miniflare
// runs the same binding under `npm start` and the tests). Two limits:
// - per API key, every authenticated request: one tenant's client in a loop cannot starve the others;
// - per client address, failed authentications: guessing keys costs a period's wait after a few tries.
// The binding counts per Cloudflare location and approximately (docs/security.md); it only counts and
// answers, so an address it refuses is remembered by this isolate until the period ends, and later
// attempts from it are refused before their key is even looked up.
import { rateLimited, type AppError } from "../functions/errors";

/** Mirrors wrangler.toml's `[[ratelimits]]` (the binding holds the numbers; these word the errors). */
export const RATE_LIMITS = {
  perKey: { binding: "KEY_RATE_LIMIT", limit: 3000, period: 60 },
  authFailuresPerAddress: { binding: "AUTH_FAILURE_RATE_LIMIT", limit: 20, period: 60 },
} as const;

/** Whether the Worker runs behind Cloudflare's edge (wrangler.toml's `[vars]`; `npm start` sets "false"). */
export interface AddressEnv {
  TRUST_CF_CONNECTING_IP?: string;
}

/**
 * The address failed authentications are counted under. Behind Cloudflare, CF-Connecting-IP is set by
 * the edge, replacing any a client sent, so it is the client's. Anywhere else (wrangler dev on loopback)
 * a client sets it at will and could spread its guesses over made-up addresses: there it is ignored and
 * every request counts under one address. request.cf cannot tell the two apart (wrangler dev fills it too).
 */
export function clientAddress(request: Request, env: AddressEnv): string {
  if (env.TRUST_CF_CONNECTING_IP !== "true") return "local";
  return request.headers.get("cf-connecting-ip") ?? "local";
}

const refusedUntil = new Map<string, number>(); // address → epoch ms; per isolate
const MAX_REMEMBERED = 10_000;

/** Throws RATE_LIMITED when this address recently failed authentication too often. */
export function checkAddress(address: string, now = Date.now()): void {
  const until = refusedUntil.get(address);
  if (until === undefined) return;
  if (until > now) throw rateLimited("failed authentications from this address", Math.ceil((until - now) / 1000));
  refusedUntil.delete(address);
}

/** Counts one failed authentication; returns the 429 to answer instead of the 401 once over the limit. */
export async function recordAuthFailure(env: Env, address: string, now = Date.now()): Promise<AppError | null> {
  const { limit, period } = RATE_LIMITS.authFailuresPerAddress;
  const { success } = await env.AUTH_FAILURE_RATE_LIMIT.limit({ key: address });
  if (success) return null;
  if (refusedUntil.size >= MAX_REMEMBERED) refusedUntil.clear(); // bounded memory under a spray of addresses
  refusedUntil.set(address, now + period * 1000);
  return rateLimited(`failed authentications from this address (over ${limit} in ${period} s)`, period);
}

/** Throws RATE_LIMITED when this key made more requests than its limit in the current period. */
export async function limitKey(env: Env, keyId: string): Promise<void> {
  const { limit, period } = RATE_LIMITS.perKey;
  const { success } = await env.KEY_RATE_LIMIT.limit({ key: keyId });
  if (!success) throw rateLimited(`requests with this API key (over ${limit} in ${period} s)`, period);
}
