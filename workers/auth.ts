// Bearer-key authentication for everything except /health, /openapi.json and the GraphiQL page.
// The authenticated account rides on the Hono context as `auth`.
import { createMiddleware } from "hono/factory";
import { authenticate, type Auth } from "../functions/accounts";

export type AppEnv = { Bindings: Env; Variables: { auth: Auth } };

export const requireAuth = createMiddleware<AppEnv>(async (c, next) => {
  c.set("auth", await authenticate(c.env.DB, c.req.header("authorization"))); // throws UNAUTHENTICATED
  await next();
});

/** For /graphql: the key is checked here, but a missing/invalid one is answered by the GraphQL layer. */
export async function optionalAuth(db: D1Database, header: string | undefined): Promise<Auth | null> {
  try {
    return await authenticate(db, header);
  } catch {
    return null;
  }
}
