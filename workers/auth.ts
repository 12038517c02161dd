// Bearer-key authentication for everything except /health, /openapi.json and the GraphiQL page.
// The authenticated account rides on the Hono context as `auth`.
import type { Context } from "hono";
import { createMiddleware } from "hono/factory";
import { authenticate, type Auth } from "../functions/accounts";

export type AppEnv = { Bindings: Env; Variables: { auth: Auth } };

/** Hands background work (the key's last-used stamp) to the request's waitUntil. */
export const deferTo = (c: Context<AppEnv>) => (work: Promise<unknown>) => c.executionCtx.waitUntil(work);

export const requireAuth = createMiddleware<AppEnv>(async (c, next) => {
  c.set("auth", await authenticate(c.env.DB, c.req.header("authorization"), deferTo(c))); // throws UNAUTHENTICATED
  await next();
});

/** For /graphql: the key is checked here, but a missing/invalid one is answered by the GraphQL layer. */
export async function optionalAuth(
  db: D1Database,
  header: string | undefined,
  defer?: (work: Promise<unknown>) => void,
): Promise<Auth | null> {
  try {
    return await authenticate(db, header, defer);
  } catch {
    return null;
  }
}
