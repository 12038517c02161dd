// Bearer-key authentication for everything except /health, /openapi.json and the GraphiQL page, with
// the rate limits of workers/rateLimit.ts. The authenticated account rides on the Hono context as `auth`.
import type { Context } from "hono";
import { createMiddleware } from "hono/factory";
import { authenticate, type Auth } from "../functions/accounts";
import { resilientDb } from "../functions/d1";
import { AppError } from "../functions/errors";
import { checkAddress, clientAddress, limitKey, recordAuthFailure, type AddressEnv } from "./rateLimit";

export type AppEnv = { Bindings: Env; Variables: { auth: Auth } };

/** Hands background work (the key's last-used stamp) to the request's waitUntil. */
export const deferTo = (c: Context<AppEnv>) => (work: Promise<unknown>) => c.executionCtx.waitUntil(work);

/**
 * The request's account, or UNAUTHENTICATED (401); RATE_LIMITED (429) when its address failed too often
 * lately (checked before the key is looked up) or its key is over its request limit.
 */
export async function authenticateRequest(c: Context<AppEnv>): Promise<Auth> {
  const auth = await countingAuthFailures(c, () => authenticate(resilientDb(c.env.DB), c.req.header("authorization"), deferTo(c)));
  if (auth.keyId) await limitKey(c.env, auth.keyId);
  return auth;
}

/**
 * Runs an authentication step (an API key, a webhook signature) under the per-address limit: an address
 * over it is refused before the step runs; each UNAUTHENTICATED the step throws is counted, and the
 * one that goes over the limit is answered RATE_LIMITED instead.
 */
export async function countingAuthFailures<T>(c: Context<AppEnv>, step: () => Promise<T>): Promise<T> {
  const address = clientAddress(c.req.raw, c.env as AddressEnv);
  checkAddress(address);
  try {
    return await step();
  } catch (error) {
    if (error instanceof AppError && error.code === "UNAUTHENTICATED") throw (await recordAuthFailure(c.env, address)) ?? error;
    throw error;
  }
}

export const requireAuth = createMiddleware<AppEnv>(async (c, next) => {
  c.set("auth", await authenticateRequest(c));
  await next();
});

/**
 * For /graphql: null without an Authorization header (the GraphiQL page, a CORS preflight) or with a
 * key that does not authenticate — the GraphQL layer answers those with its own 401. A rate limit
 * still throws RATE_LIMITED.
 */
export async function optionalAuth(c: Context<AppEnv>): Promise<Auth | null> {
  if (c.req.header("authorization") === undefined) return null;
  try {
    return await authenticateRequest(c);
  } catch (error) {
    if (error instanceof AppError && error.code === "UNAUTHENTICATED") return null;
    throw error;
  }
}
