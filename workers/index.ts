// The Worker: a Hono app (REST + GraphQL + health) and the scheduled feedback export. Routes are thin:
// they authenticate, build Deps and call functions/; errors become responses in workers/errors.ts.
import { Hono } from "hono";
import { bodyLimit } from "hono/body-limit";
import { resilientDb } from "../functions/d1";
import { AppError, echoed, payloadTooLarge } from "../functions/errors";
import { depsFor } from "../functions/deps";
import { exportAccountTexts } from "../functions/accountTexts";
import { exportFeedback } from "../functions/feedbackExport";
import { gatePendingVersions } from "../functions/promotionGate";
import { handleGraphQL } from "../schema/yoga";
import { optionalAuth, type AppEnv } from "./auth";
import { errorResponse, graphqlErrorResponse } from "./errors";
import { rest } from "./rest";
import { handleQueue, webhooks } from "./webhooks";
import { sweepStuckDeliveries, type WebhookEnv, type WebhookMessage } from "../functions/webhookDeliveries";

const app = new Hono<AppEnv>();

// The methods each route answers: any other method on a known path is a 405 with Allow (before
// authentication: the routes are public in /openapi.json anyway), not a 404.
export const ROUTE_METHODS: Record<string, string[]> = {
  "/health": ["GET", "HEAD"],
  "/openapi.json": ["GET", "HEAD"],
  "/graphql": ["GET", "POST", "OPTIONS"],
  "/tasks": ["POST"],
  "/execute_task": ["POST"],
  "/feedback": ["POST"],
};
app.use("*", async (c, next) => {
  const path = new URL(c.req.url).pathname;
  const allowed = ROUTE_METHODS[path] ?? (path.startsWith("/webhooks/") ? ["POST"] : undefined);
  if (!allowed || allowed.includes(c.req.method)) return next();
  const message = `${c.req.method} is not allowed on ${echoed(path)}: use ${allowed.join(", ")}.`;
  return c.json({ error: { code: "METHOD_NOT_ALLOWED", message, issues: [] } }, 405, { allow: allowed.join(", ") });
});

// Request bodies are bounded before anything reads them. The largest legitimate ones: a task with 500
// examples of 8 000-character inputs and outputs (~8 MB, more with JSON escapes) through POST /tasks
// or GraphQL; an input of 8 000 characters for the others.
export const BODY_LIMITS = { large: 16 << 20, small: 256 << 10 } as const;
const limit = (maxSize: number) => bodyLimit({ maxSize, onError: () => { throw payloadTooLarge(maxSize); } });
app.use("/graphql", bodyLimit({
  maxSize: BODY_LIMITS.large,
  onError: () => graphqlErrorResponse(payloadTooLarge(BODY_LIMITS.large)),
}));
app.use("/tasks", limit(BODY_LIMITS.large));
app.use("/execute_task", limit(BODY_LIMITS.small));
app.use("/feedback", limit(BODY_LIMITS.small));
app.use("/webhooks/*", limit(BODY_LIMITS.small));

app.get("/health", (c) => c.json({ ok: true }));

// GraphiQL (a browser GET) is served without a key; every operation needs one — handleGraphQL answers
// a missing/invalid key with a GraphQL-shaped 401, a rate limit is a GraphQL-shaped 429.
app.on(["GET", "POST", "OPTIONS"], "/graphql", async (c) => {
  let auth;
  try {
    auth = await optionalAuth(c);
  } catch (error) {
    if (error instanceof AppError) return graphqlErrorResponse(error);
    throw error;
  }
  // Hono types executionCtx with its own narrower interface; at run time it is the Workers context.
  return handleGraphQL(c.req.raw, c.env, c.executionCtx as ExecutionContext, auth);
});

app.route("/", rest);
app.route("/", webhooks);

app.notFound((c) => c.json({ error: { code: "NOT_FOUND", message: `No route for ${echoed(c.req.method)} ${echoed(new URL(c.req.url).pathname)}.`, issues: [] } }, 404));
app.onError(errorResponse);

export default {
  fetch: app.fetch,
  async scheduled(controller: ScheduledController, env: Env, _ctx: ExecutionContext) {
    // Four jobs, each run even when another fails; the run fails (and says which) if any did.
    const jobs: [string, () => Promise<unknown>][] = [
      ["feedback_export", async () => {
        const { key, count } = await exportFeedback(resilientDb(env.DB), env.MODELS, new Date(controller.scheduledTime));
        console.log(JSON.stringify({ event: "feedback_export", key, count }));
      }],
      // Versions published without the GraphQL registration (scripts, a training job writing D1): gated here.
      ["promotion_gate", () => gatePendingVersions(depsFor(env, "promotion-gate"))],
      ["webhook_sweep", () => sweepStuckDeliveries(resilientDb(env.DB), env as WebhookEnv)],
      // Each account's own texts for the training job's per-account encoder (at most daily per account).
      ["account_texts", async () => {
        const written = await exportAccountTexts(resilientDb(env.DB), env.MODELS, new Date(controller.scheduledTime));
        console.log(JSON.stringify({ event: "account_texts_export", accounts: written.length, texts: written.reduce((a, w) => a + w.texts, 0) }));
      }],
    ];
    const failed: string[] = [];
    for (const [name, job] of jobs) {
      try {
        await job();
      } catch (error) {
        failed.push(name);
        // One JSON line per failed job: which job, for which run, and why (the stack locates it; the
        // thrown run below only names the jobs, as the platform's cron log shows no more than that).
        const detail = error instanceof Error
          ? { error: error.message, errorName: error.name, stack: error.stack }
          : { error: String(error) };
        console.error(JSON.stringify({
          event: "scheduled_job_failed", job: name, cron: controller.cron,
          scheduledTime: new Date(controller.scheduledTime).toISOString(), ...detail,
        }));
      }
    }
    if (failed.length) throw new Error(`scheduled jobs failed: ${failed.join(", ")}`);
  },
  queue: handleQueue,
} satisfies ExportedHandler<Env, WebhookMessage>;
