// The GraphQL endpoint itself: the committed schema, GraphiQL, batching (no N+1), query limits and
// the masking of unexpected errors. One file, so the pool's start-up cost is paid once for all of them.
import { createExecutionContext } from "cloudflare:test";
import { env } from "cloudflare:workers";
import { isInputObjectType, isObjectType, printSchema } from "graphql";
import { describe, expect, it } from "vitest";
import committed from "../../schema.graphql?raw";
import { schema } from "../../schema/index";
import { QUERY_COST } from "../../schema/builder";
import { handleGraphQL, QUERY_LIMITS } from "../../schema/yoga";
import { call, newAccount, newTask, type TestAccount } from "../support/fixtures";
import { codes, gql } from "./gql";

/** env.DB that records every statement prepared through it. */
function recordingDb(sql: string[], failWith?: Error): D1Database {
  return new Proxy(env.DB, {
    get(target, prop) {
      if (prop === "prepare") {
        return (query: string) => {
          if (failWith) throw failWith;
          sql.push(query);
          return target.prepare(query);
        };
      }
      const value: unknown = Reflect.get(target, prop);
      return typeof value === "function" ? (value as (...args: unknown[]) => unknown).bind(target) : value;
    },
  });
}

async function run(account: TestAccount, db: D1Database, query: string) {
  const res = await handleGraphQL(
    new Request("http://local/graphql", { method: "POST", headers: account.headers, body: JSON.stringify({ query }) }),
    { ...env, DB: db },
    createExecutionContext(),
    account.auth,
  );
  const text = await res.text();
  return { status: res.status, text, body: JSON.parse(text) as { data?: { agents: { edges: { node: { tasks: { edges: { node: { examples: { edges: unknown[] } } }[] } } }[] } }; errors?: { message: string; extensions?: { code?: string } }[] } };
}

const NESTED = `{ agents(first: 10) { edges { node { id tasks { edges { node { id agent { id }
  examples(first: 3) { edges { node { id task { id } } } pageInfo { hasNextPage } }
  latestAdaptation { id } executions { edges { cursor } } conversations { edges { cursor } } } } } } } } }`;

describe("GraphQL batching and limits", () => {
  it("costs the same number of D1 queries for 2 agents as for 6 (no N+1 in nested fields)", async () => {
    const counts: number[] = [];
    for (const agents of [2, 6]) {
      const account = await newAccount();
      for (let i = 0; i < agents; i++) await newTask(account.deps);
      const sql: string[] = [];
      const { body } = await run(account, recordingDb(sql), NESTED);
      expect(body.errors).toBeUndefined();
      expect(body.data!.agents.edges).toHaveLength(agents);
      // Each task has 4 examples; the nested page shows 3 and says there are more.
      for (const edge of body.data!.agents.edges) {
        expect(edge.node.tasks.edges[0]!.node.examples.edges).toHaveLength(3);
      }
      counts.push(sql.length);
    }
    expect(counts[0]).toBe(counts[1]);
    expect(counts[1]).toBeLessThanOrEqual(8);
  });

  it("masks unexpected errors: no message, stack or detail reaches the client", async () => {
    const account = await newAccount();
    const secret = "internal-detail-4c1d";
    const { status, text, body } = await run(account, recordingDb([], new Error(`database exploded: ${secret}`)), `{ agents { edges { cursor } } }`);
    expect(status).toBe(200);
    expect(body.errors?.map((e) => [e.message, e.extensions?.code])).toEqual([["Unexpected error.", "INTERNAL_SERVER_ERROR"]]);
    expect(text).not.toContain(secret);
    expect(text).not.toContain("exploded");
  });

  it("refuses queries nested deeper, or with more aliases, than the limits", async () => {
    const account = await newAccount();
    // agent → tasks → agent → tasks …: each hop adds three levels (field, edges, node).
    let deep = "id";
    for (let i = 0; i < 5; i++) deep = `tasks { edges { node { agent { ${deep} } } } }`;
    const tooDeep = await run(account, env.DB, `{ agents { edges { node { ${deep} } } } }`);
    expect(tooDeep.body.data).toBeUndefined();
    expect(tooDeep.body.errors?.[0]?.message).toContain(`depth limit of ${QUERY_LIMITS.depth}`);
    expect(tooDeep.body.errors?.[0]?.extensions?.code).toBe("QUERY_TOO_COMPLEX");

    const aliases = Array.from({ length: QUERY_LIMITS.aliases + 1 }, (_, i) => `a${i}: llm { configured }`).join(" ");
    const tooMany = await run(account, env.DB, `{ ${aliases} }`);
    expect(tooMany.body.data).toBeUndefined();
    expect(tooMany.body.errors?.[0]?.message).toContain(`Aliases limit of ${QUERY_LIMITS.aliases}`);
    expect(tooMany.body.errors?.[0]?.extensions?.code).toBe("QUERY_TOO_COMPLEX");

    // 10 000 nested selections: a typed 400 before the parser recurses, not a 500 (400 is what the
    // GraphQL-over-HTTP media type answers for a document that does not parse).
    const strict = { ...account.headers, "content-type": "application/json", accept: "application/graphql-response+json" };
    const nested = `{ ${"agents { edges { node { ".repeat(2500)}id${" } } }".repeat(2500)} }`;
    const tooLong = await call("/graphql", { headers: strict, body: { query: nested } });
    expect(tooLong.status).toBe(400);
    expect(JSON.stringify(tooLong.json)).toContain(`nests deeper than ${QUERY_LIMITS.nesting} levels`);
    // and a flat document with more tokens than the limit
    const flat = `{ ${Array.from({ length: QUERY_LIMITS.tokens }, (_, i) => `f${i}: __typename`).join(" ")} }`;
    const tooManyTokens = await call("/graphql", { headers: strict, body: { query: flat } });
    expect(tooManyTokens.status).toBe(400);
    expect(JSON.stringify(tooManyTokens.json)).toContain(`Token limit of ${QUERY_LIMITS.tokens}`);

    // The nested query the batching test runs stays within the limits.
    const ok = await run(account, env.DB, NESTED);
    expect(ok.body.errors).toBeUndefined();
  });

  it("answers every syntax error 400 GRAPHQL_PARSE_FAILED, under any Accept, the second time too", async () => {
    const account = await newAccount();
    const documents = ["{ llm { configured }", "{", "query {", "\ud800", `{ llm(x: "\udc00") { configured } }`, "}"];
    for (const accept of [undefined, "application/json", "application/graphql-response+json"]) {
      const headers = { ...account.headers, ...(accept ? { accept } : {}) };
      for (const query of documents) {
        for (let attempt = 0; attempt < 2; attempt++) { // the second one meets Yoga's caches
          const res = await call("/graphql", { headers, body: { query } });
          expect([res.status, query, accept]).toEqual([400, query, accept]);
          const body = res.json as { errors?: { message: string; extensions?: { code?: string } }[]; data?: unknown };
          expect(body.data).toBeUndefined();
          expect(body.errors?.map((e) => e.extensions?.code)).toEqual(["GRAPHQL_PARSE_FAILED"]);
          expect(body.errors?.[0]?.message).toMatch(/^Syntax Error/);
        }
      }
    }
    // The same request written as raw JSON, as a client would send it.
    const raw = await call("/graphql", { headers: account.headers, body: '{"query":"{ llm { configured }"}' });
    expect(raw.status).toBe(400);
    expect(JSON.stringify(raw.json)).toContain("GRAPHQL_PARSE_FAILED");
    // A document that parses still runs.
    const fine = await call("/graphql", { headers: account.headers, body: { query: "{ llm { configured } }" } });
    expect(fine.status).toBe(200);
  });
});

describe("GraphQL query cost", () => {
  it("refuses a query whose nested pages multiply past the cost limit, before any resolver reads D1", async () => {
    const account = await newAccount();
    const task = await newTask(account.deps);
    // examples → task → examples, 100 each: 10 000 example texts from a 200-byte document.
    const query = `{ examples(taskId: "${task.id}", first: 100) { edges { node { task {
      examples(first: 100) { edges { node { input output } } } } } } } }`;
    const sql: string[] = [];
    const { body } = await run(account, recordingDb(sql), query);
    expect(body.data ?? null).toBeNull();
    expect(body.errors?.[0]?.extensions?.code).toBe("QUERY_TOO_COMPLEX");
    expect(body.errors?.[0]?.message).toContain(`over the limit of ${QUERY_COST.limit}`);
    expect(sql).toEqual([]);
    // The same shape with small pages is served.
    const small = await run(account, env.DB, query.replaceAll("first: 100", "first: 5"));
    expect(small.body.errors).toBeUndefined();
  });

  it("counts what a connection asks for (first), not what it happens to hold", async () => {
    const account = await newAccount();
    const task = await newTask(account.deps);
    const page = (first: number) => `{ examples(taskId: "${task.id}", first: ${first}) { edges { node { id input output label } } } }`;
    // A page of 100 examples with their texts is an ordinary request…
    const ok = await run(account, env.DB, page(100));
    expect(ok.body.errors).toBeUndefined();
    // …but asking for 100 of them under each of 100 agents' tasks is not, though this account has one task.
    const fanOut = `{ agents(first: 100) { edges { node { tasks(first: 100) { edges { node { description } } } } } } }`;
    const refused = await run(account, env.DB, fanOut);
    expect(refused.body.errors?.[0]?.extensions?.code).toBe("QUERY_TOO_COMPLEX");
  });
});

describe("schema.graphql", () => {
  it("is the printed schema (run `npm run schema:print` after changing schema/)", () => {
    expect(committed.trimEnd()).toBe(printSchema(schema).trimEnd());
  });

  it("has no field or argument that could carry an API key or secret", () => {
    const names: string[] = [];
    for (const type of Object.values(schema.getTypeMap())) {
      if (type.name.startsWith("__")) continue;
      if (isObjectType(type)) {
        for (const field of Object.values(type.getFields())) names.push(field.name, ...field.args.map((a) => a.name));
      } else if (isInputObjectType(type)) {
        names.push(...Object.keys(type.getFields()));
      }
    }
    expect(names.length).toBeGreaterThan(100);
    // The one secret the API hands out on purpose: a webhook's signing secret, shown once, on the type
    // only creation and rotation return. The others name a secret or key without carrying one.
    const deliberate = ["signingSecret", "rotateWebhookSecret", "secretRotatedAt", "idempotencyKey"];
    expect(names.filter((n) => /key|secret|token$|password/i.test(n) && !deliberate.includes(n))).toEqual([]);
    const carriers = Object.values(schema.getTypeMap()).filter((t) => isObjectType(t) && "signingSecret" in t.getFields());
    expect(carriers.map((t) => t.name)).toEqual(["WebhookEndpointWithSecret"]);
  });
});

describe("GraphiQL at /graphql", () => {
  it("serves the offline GraphiQL page to a browser without a key, its scripts from the static assets", async () => {
    const res = await call("/graphql", { headers: { accept: "text/html,application/xhtml+xml" } });
    expect(res.status).toBe(200);
    expect(res.headers.get("content-type")).toContain("text/html");
    expect(res.text).toContain("YogaGraphiQL.renderYogaGraphiQL");
    expect(res.text).toContain("adaptagent GraphQL");
    // Offline: every script and style comes from this origin, nothing from a CDN.
    const sources = [...res.text.matchAll(/(?:src|href)="([^"]+)"/g)].map((m) => m[1]!);
    expect(sources.length).toBeGreaterThanOrEqual(3);
    for (const source of sources) expect(source).toMatch(/^\/graphiql\/assets\//);
    expect(res.text).not.toMatch(/unpkg\.com|jsdelivr|cdn\./);
    // The page is small: the 5 MB bundle is a separate, cacheable asset (not inlined in the Worker).
    expect(res.text.length).toBeLessThan(10_000);
  });

  it("the page's assets exist in the static assets", async () => {
    const res = await call("/graphql", { headers: { accept: "text/html" } });
    for (const source of [...res.text.matchAll(/(?:src|href)="([^"]+)"/g)].map((m) => m[1]!)) {
      const asset = await env.ASSETS.fetch(`http://local${source}`);
      expect(asset.status, source).toBe(200);
      expect((await asset.arrayBuffer()).byteLength, source).toBeGreaterThan(1000);
    }
  });

  it("does not run operations without a key, even as a GET", async () => {
    const get = await call(`/graphql?query=${encodeURIComponent("{ agents { edges { cursor } } }")}`, { headers: { accept: "application/json" } });
    expect(get.status).toBe(401);
    expect((get.json as { errors: { extensions: { code: string } }[] }).errors[0]?.extensions.code).toBe("UNAUTHENTICATED");
    const post = await gql(null, `{ llm { configured } }`);
    expect(post.status).toBe(401);
    expect(codes(post)).toEqual(["UNAUTHENTICATED"]);
  });
});
