// /graphql as mounted by the Worker (workers/index.ts): the key is checked by the Hono layer and the
// GraphiQL page needs none; the schema itself is tested under test/graphql.
import { describe, expect, it } from "vitest";
import { call, newAccount, newAgent } from "../support/fixtures";

const query = (q: string, headers: Record<string, string> = { "content-type": "application/json" }) =>
  call("/graphql", { body: { query: q }, headers });

describe("/graphql through the Worker", () => {
  it("serves GraphiQL to a browser GET without a key", async () => {
    const res = await call("/graphql", { headers: { accept: "text/html" } });
    expect(res.status).toBe(200);
    expect(res.headers.get("content-type")).toContain("text/html");
  });

  it("CORS: any origin may call with a key, but no origin is told to send credentials", async () => {
    const a = await newAccount();
    const origin = "https://elsewhere.example";
    const preflight = await call("/graphql", {
      method: "OPTIONS",
      headers: { origin, "access-control-request-method": "POST", "access-control-request-headers": "authorization, content-type" },
    });
    expect(preflight.status).toBeLessThan(300);
    expect(["*", origin]).toContain(preflight.headers.get("access-control-allow-origin")); // Yoga echoes "*" as the origin
    expect(preflight.headers.get("access-control-allow-credentials")).not.toBe("true");
    const res = await call("/graphql", { headers: { ...a.headers, origin }, body: { query: "{ __typename }" } });
    expect(res.status).toBe(200);
    expect(["*", origin]).toContain(res.headers.get("access-control-allow-origin"));
    expect(res.headers.get("access-control-allow-credentials")).not.toBe("true");
  });

  it("answers an operation without (or with a bad) key with a GraphQL-shaped 401", async () => {
    const headerSets: Record<string, string>[] = [
      { "content-type": "application/json" },
      { "content-type": "application/json", authorization: `Bearer aa_${"B".repeat(43)}` },
    ];
    for (const headers of headerSets) {
      const res = await query("{ __typename }", headers);
      expect(res.status).toBe(401);
      expect((res.json as { errors: { extensions: { code: string } }[] }).errors[0]?.extensions.code).toBe("UNAUTHENTICATED");
    }
  });

  it("runs an operation for the key's account", async () => {
    const a = await newAccount();
    const agent = await newAgent(a.deps, { name: "Visible" });
    const res = await query(`{ agent(id: "${agent.id}") { id name } }`, a.headers);
    expect(res.status).toBe(200);
    expect(res.json).toEqual({ data: { agent: { id: agent.id, name: "Visible" } } });
  });
});
