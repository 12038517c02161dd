import { createExecutionContext } from "cloudflare:test";
import { env } from "cloudflare:workers";
import { describe, expect, it } from "vitest";
import { handleGraphQL } from "../../schema/yoga";
import { newAccount, newTask, type TestAccount } from "../support/fixtures";

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

const NESTED = `{ agents(first: 50) { edges { node { id tasks { edges { node { id agent { id }
  examples(first: 3) { edges { node { id task { id } } } pageInfo { hasNextPage } }
  latestAdaptation { id } executions { edges { cursor } } conversations { edges { cursor } } } } } } } } }`;

describe("GraphQL batching", () => {
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
});
