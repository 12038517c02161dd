// The Worker: a Hono app (REST + GraphQL + health) and the scheduled feedback export. Routes are thin:
// they authenticate, build Deps and call functions/; errors become responses in workers/errors.ts.
import { Hono } from "hono";
import { exportFeedback } from "../functions/feedbackExport";
import { handleGraphQL } from "../schema/yoga";
import { deferTo, optionalAuth, type AppEnv } from "./auth";
import { errorResponse } from "./errors";
import { rest } from "./rest";

const app = new Hono<AppEnv>();

app.get("/health", (c) => c.json({ ok: true }));

// GraphiQL (a browser GET) is served without a key; every operation needs one — handleGraphQL answers
// a missing/invalid key with a GraphQL-shaped 401.
app.on(["GET", "POST"], "/graphql", async (c) => {
  const auth = await optionalAuth(c.env.DB, c.req.header("authorization"), deferTo(c));
  // Hono types executionCtx with its own narrower interface; at run time it is the Workers context.
  return handleGraphQL(c.req.raw, c.env, c.executionCtx as ExecutionContext, auth);
});

app.route("/", rest);

app.notFound((c) => c.json({ error: { code: "NOT_FOUND", message: `No route for ${c.req.method} ${new URL(c.req.url).pathname}.`, issues: [] } }, 404));
app.onError(errorResponse);

export default {
  fetch: app.fetch,
  async scheduled(controller: ScheduledController, env: Env, _ctx: ExecutionContext) {
    const { key, count } = await exportFeedback(env.DB, env.MODELS, new Date(controller.scheduledTime));
    console.log(JSON.stringify({ event: "feedback_export", key, count }));
  },
} satisfies ExportedHandler<Env>;
