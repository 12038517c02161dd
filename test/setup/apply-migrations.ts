import { applyD1Migrations } from "cloudflare:test";
import { env } from "cloudflare:workers";

// Runs before each test file: the very migration files that `wrangler d1 migrations apply` uses.
await applyD1Migrations(env.DB, env.TEST_MIGRATIONS);
