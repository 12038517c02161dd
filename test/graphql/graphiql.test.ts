import { createExecutionContext, waitOnExecutionContext } from "cloudflare:test";
import { env } from "cloudflare:workers";
import { describe, expect, it } from "vitest";
import { handleGraphQL } from "../../schema/yoga";

describe("GraphiQL", () => {
  it("serves the offline GraphiQL page to a browser without a key", async () => {
    const ctx = createExecutionContext();
    const res = await handleGraphQL(
      new Request("http://local/graphql", { headers: { accept: "text/html" } }),
      env,
      ctx,
      null,
    );
    await waitOnExecutionContext(ctx);
    expect(res.status).toBe(200);
    expect(res.headers.get("content-type")).toContain("text/html");
    const html = await res.text();
    expect(html).toContain("YogaGraphiQL.renderYogaGraphiQL");
    // Offline: every asset is inlined, nothing is fetched from a CDN.
    expect(html).not.toMatch(/<script[^>]+src=|<link[^>]+stylesheet[^>]+href=["']https?:/);
    expect(html).not.toContain("unpkg.com");
  });

  it("refuses an operation without a key", async () => {
    const res = await handleGraphQL(
      new Request("http://local/graphql", {
        method: "POST",
        headers: { "content-type": "application/json" },
        body: JSON.stringify({ query: "{ ping }" }),
      }),
      env,
      createExecutionContext(),
      null,
    );
    expect(res.status).toBe(401);
    const body = await res.json<{ errors: { extensions: { code: string } }[] }>();
    expect(body.errors[0]?.extensions.code).toBe("UNAUTHENTICATED");
  });
});
