// The GraphQL endpoint. Yoga and the schema are built once per isolate; everything that varies per
// request (bindings, the authenticated account, dataloader caches) comes through the server context.
import { maxAliasesPlugin } from "@escape.tech/graphql-armor-max-aliases";
import { maxDepthPlugin } from "@escape.tech/graphql-armor-max-depth";
import { renderGraphiQL } from "@graphql-yoga/render-graphiql";
import { createYoga } from "graphql-yoga";
import { depsFor } from "../functions/deps";
import { unauthenticated } from "../functions/errors";
import type { Auth, Context } from "./builder";
import { maskGraphQLError } from "./errors";
import { schema } from "./index";
import { createLoaders } from "./loaders";

export const GRAPHQL_PATH = "/graphql";

// Batching keeps the number of D1 queries flat, but not the size of an answer: nested connections of
// 100 each multiply. These bound what one request may ask for (agents → tasks → examples → task → agent
// is depth 11; introspection is exempt).
export const QUERY_LIMITS = { depth: 12, aliases: 20 } as const;

interface ServerContext {
  env: Env;
  ctx: ExecutionContext;
  auth: Auth;
}

const yoga = createYoga<ServerContext, Context>({
  schema,
  graphqlEndpoint: GRAPHQL_PATH,
  // GraphiQL's assets are inlined by @graphql-yoga/render-graphiql: no CDN, works offline.
  graphiql: {
    title: "adaptagent GraphQL",
    // Operations need the key; prefill the header so a browser user only pastes it in.
    headers: JSON.stringify({ Authorization: "Bearer <your API key>" }, null, 2),
    defaultEditorToolsVisibility: "headers",
    defaultQuery: "# Paste your API key into the Authorization header below, then run.\n{\n  agents(first: 5) {\n    edges { node { id name tasks { edges { node { id name kind labels } } } } }\n  }\n}\n",
  },
  renderGraphiQL,
  landingPage: false,
  plugins: [
    maxDepthPlugin({ n: QUERY_LIMITS.depth, exposeLimits: true }),
    maxAliasesPlugin({ n: QUERY_LIMITS.aliases, exposeLimits: true }),
  ],
  maskedErrors: { maskError: maskGraphQLError },
  context: ({ env, auth }) => {
    if (!auth.accountId) throw unauthenticated();
    const deps = depsFor(env, auth.accountId);
    return { deps, auth, loaders: createLoaders(deps) };
  },
});

/** True for a browser asking for the GraphiQL page (served without an API key: it holds no data). */
export function wantsGraphiQL(request: Request): boolean {
  return request.method === "GET" && (request.headers.get("accept") ?? "").includes("text/html");
}

/**
 * Mounted by the Worker at /graphql behind its auth middleware. The middleware may pass `auth: null`
 * for a GraphiQL page request (see wantsGraphiQL); every operation needs an authenticated account.
 */
export async function handleGraphQL(
  request: Request,
  env: Env,
  ctx: ExecutionContext,
  auth: Auth | null,
): Promise<Response> {
  if (auth) return yoga.fetch(request, { env, ctx, auth });
  if (wantsGraphiQL(request)) return yoga.fetch(request, { env, ctx, auth: ANONYMOUS });
  const error = unauthenticated();
  return Response.json(
    { errors: [{ message: error.message, extensions: { code: error.code } }] },
    { status: 401, headers: { "www-authenticate": "Bearer" } },
  );
}

// Only ever used to render the GraphiQL page, which reads no data; the context factory refuses it.
const ANONYMOUS: Auth = { accountId: "", isAdmin: false };
