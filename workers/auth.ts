// Bearer-key authentication for everything except /health, /openapi.json and the GraphiQL page.
// The authenticated account rides on the Hono context as `auth`.
import { createMiddleware } from "hono/factory";
import { authenticate, type Auth } from "../functions/accounts";

export type AppEnv = { Bindings: Env; Variables: { auth: Auth } };

export const requireAuth = createMiddleware<AppEnv>(async (c, next) => {
  const defer = (work: Promise<unknown>) => c.executionCtx.waitUntil(work);
  c.set("auth", await authenticate(c.env.DB, c.req.header("authorization"), defer)); // throws UNAUTHENTICATED
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
