// What a domain function needs, passed explicitly so functions import neither Hono nor GraphQL
// and are unit-tested with the real bindings from `cloudflare:workers`.
export interface Deps {
  db: D1Database;
  models: R2Bucket;
  env: Env; // LLM defaults and the LLM_API_KEY secret (never logged, never returned)
  accountId: string; // the tenant every query is scoped to
}

export function depsFor(env: Env, accountId: string): Deps {
  return { db: env.DB, models: env.MODELS, env, accountId };
}
