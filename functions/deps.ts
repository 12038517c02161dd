// What a domain function needs, passed explicitly so functions import neither Hono nor GraphQL
// and are unit-tested with the real bindings from `cloudflare:workers`.
import { resilientDb } from "./d1";

export interface Deps {
  db: D1Database;
  models: R2Bucket;
  env: Env; // LLM defaults and the LLM_API_KEY secret (never logged, never returned)
  accountId: string; // the tenant every query is scoped to
}

/** D1 goes through resilientDb: transient faults are retried, what still fails is a typed 503. */
export function depsFor(env: Env, accountId: string): Deps {
  return { db: resilientDb(env.DB), models: env.MODELS, env, accountId };
}
