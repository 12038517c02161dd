// The GraphQL endpoint. Yoga and the schema are built once per isolate; everything that varies per
// request (bindings, the authenticated account, dataloader caches) comes through the server context.
import { maxAliasesPlugin } from "@escape.tech/graphql-armor-max-aliases";
import { maxDepthPlugin } from "@escape.tech/graphql-armor-max-depth";
import type { GraphQLError } from "graphql";
import { createYoga } from "graphql-yoga";
import { depsFor } from "../functions/deps";
import { unauthenticated } from "../functions/errors";
import type { Auth, Context } from "./builder";
import { maskGraphQLError } from "./errors";
import { documentLimitsPlugin } from "./limits";
import { schema } from "./index";
import { createLoaders } from "./loaders";

export const GRAPHQL_PATH = "/graphql";

// Batching keeps the number of D1 queries flat, but not the size of an answer: nested connections of
// 100 each multiply. These bound what one request may ask for (agents → tasks → examples → task → agent
// is depth 11; introspection is exempt). The token and nesting limits stop a document before the
// recursive parser runs, and every syntax error is a typed 400 (schema/limits.ts): 500 examples written
// inline in a createTask mutation are ~4 500 tokens and nest 5 deep.
export const QUERY_LIMITS = { depth: 12, aliases: 20, tokens: 10_000, nesting: 64 } as const;

// Depth and alias refusals carry the same code as a refusal on cost, so that a client branches on
// `extensions.code` for every "ask for less" answer (graphql-armor's errors carry none of their own).
function tooComplex(_context: unknown, error: GraphQLError): void {
  Object.assign(error.extensions, { code: "QUERY_TOO_COMPLEX" });
}

interface ServerContext {
  env: Env;
  ctx: ExecutionContext;
  auth: Auth;
}

const yoga = createYoga<ServerContext, Context>({
  schema,
  graphqlEndpoint: GRAPHQL_PATH,
  // GraphiQL is a static page (public/graphiql, Workers static assets): see handleGraphQL.
  graphiql: false,
  landingPage: false,
  // Keys travel in the Authorization header, never in cookies: any origin may call the API, but no
  // browser is told to send ambient credentials (Yoga's default reflects the origin with credentials).
  cors: { origin: "*", credentials: false, methods: ["GET", "POST"], allowedHeaders: ["authorization", "content-type"] },
  plugins: [
    maxDepthPlugin({ n: QUERY_LIMITS.depth, exposeLimits: true, onReject: [tooComplex] }),
    maxAliasesPlugin({ n: QUERY_LIMITS.aliases, exposeLimits: true, onReject: [tooComplex] }),
    documentLimitsPlugin({ nesting: QUERY_LIMITS.nesting, tokens: QUERY_LIMITS.tokens }),
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
 * Mounted by the Worker at /graphql behind its auth middleware. A browser's GET gets the GraphiQL page
 * from the static assets (no key needed: it holds no data); every operation needs an authenticated account.
 */
export async function handleGraphQL(
  request: Request,
  env: Env,
  ctx: ExecutionContext,
  auth: Auth | null,
): Promise<Response> {
  if (wantsGraphiQL(request)) return env.ASSETS.fetch(new URL("/graphiql/", request.url));
  if (auth) return yoga.fetch(request, { env, ctx, auth });
  // A CORS preflight carries no key; Yoga answers it before any context (which would refuse it) exists.
  if (request.method === "OPTIONS") return yoga.fetch(request, { env, ctx, auth: PREFLIGHT });
  const error = unauthenticated();
  return Response.json(
    { errors: [{ message: error.message, extensions: { code: error.code } }] },
    { status: 401, headers: { "www-authenticate": "Bearer" } },
  );
}

// Only ever used for a CORS preflight, which reads no data; the context factory refuses it.
const PREFLIGHT: Auth = { accountId: "", isAdmin: false };
