import { describe, expect, it } from "vitest";
import { call } from "../support/fixtures";
import { codes, gql } from "./gql";

describe("GraphiQL at /graphql", () => {
  it("serves the offline GraphiQL page to a browser without a key", async () => {
    const res = await call("/graphql", { headers: { accept: "text/html,application/xhtml+xml" } });
    expect(res.status).toBe(200);
    expect(res.headers.get("content-type")).toContain("text/html");
    expect(res.text).toContain("YogaGraphiQL.renderYogaGraphiQL");
    expect(res.text).toContain("adaptagent GraphQL");
    // Offline: scripts and styles are inlined, nothing is loaded from a CDN.
    expect(res.text).not.toMatch(/<script[^>]*\ssrc=/);
    expect(res.text).not.toMatch(/<link[^>]*stylesheet/);
    expect(res.text).not.toMatch(/unpkg\.com|jsdelivr|cdn\./);
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
