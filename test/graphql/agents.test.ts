import { describe, expect, it } from "vitest";
import { newAccount, TEST_LLM_KEY } from "../support/fixtures";
import { codes, gql, gqlOk } from "./gql";

const AGENT = `id name instructions llmModel llmBaseUrl llm { configured model baseUrl message } createdAt updatedAt`;

describe("GraphQL agents", () => {
  it("creates, reads, updates and deletes an agent", async () => {
    const a = await newAccount();
    const { createAgent } = await gqlOk<{ createAgent: { id: string; name: string; instructions: string; llmModel: string | null } }>(
      a,
      `mutation($input: CreateAgentInput!) { createAgent(input: $input) { ${AGENT} } }`,
      { input: { name: "  Triage  ", instructions: "Be brief." } },
    );
    expect(createAgent).toMatchObject({ name: "Triage", instructions: "Be brief.", llmModel: null });

    const { agent } = await gqlOk<{ agent: { id: string; llm: { configured: boolean; model: string } } }>(
      a,
      `query($id: ID!) { agent(id: $id) { ${AGENT} } }`,
      { id: createAgent.id },
    );
    expect(agent.id).toBe(createAgent.id);
    expect(agent.llm).toMatchObject({ configured: true, model: "echo" });

    const { updateAgent } = await gqlOk<{ updateAgent: { name: string; instructions: string; llmModel: string | null } }>(
      a,
      `mutation($id: ID!, $input: UpdateAgentInput!) { updateAgent(id: $id, input: $input) { ${AGENT} } }`,
      { id: createAgent.id, input: { llmModel: "label:positive" } },
    );
    expect(updateAgent).toMatchObject({ name: "Triage", instructions: "Be brief.", llmModel: "label:positive" });

    // null resets the model to the Worker's default; omitted fields stay.
    const reset = await gqlOk<{ updateAgent: { llmModel: string | null; name: string } }>(
      a,
      `mutation($id: ID!) { updateAgent(id: $id, input: { llmModel: null }) { llmModel name } }`,
      { id: createAgent.id },
    );
    expect(reset.updateAgent).toEqual({ llmModel: null, name: "Triage" });

    const del = await gqlOk<{ deleteAgent: string }>(a, `mutation($id: ID!) { deleteAgent(id: $id) }`, { id: createAgent.id });
    expect(del.deleteAgent).toBe(createAgent.id);
    const gone = await gql(a, `query($id: ID!) { agent(id: $id) { id } }`, { id: createAgent.id });
    expect(codes(gone)).toEqual(["NOT_FOUND"]);
  });

  it("pages through agents with first/after", async () => {
    const a = await newAccount();
    for (const name of ["A1", "A2", "A3", "A4", "A5"]) {
      await gqlOk(a, `mutation($name: String!) { createAgent(input: { name: $name }) { id } }`, { name });
    }
    type Conn = { agents: { edges: { cursor: string; node: { name: string } }[]; pageInfo: { hasNextPage: boolean; endCursor: string | null } } };
    const query = `query($first: Int, $after: String) { agents(first: $first, after: $after) {
      edges { cursor node { name } } pageInfo { hasNextPage endCursor startCursor hasPreviousPage } } }`;
    const seen: string[] = [];
    let after: string | null = null;
    let pages = 0;
    for (;;) {
      const page: Conn = await gqlOk<Conn>(a, query, { first: 2, after });
      pages += 1;
      seen.push(...page.agents.edges.map((e) => e.node.name));
      expect(page.agents.pageInfo.endCursor).toBe(page.agents.edges.at(-1)?.cursor ?? null);
      if (!page.agents.pageInfo.hasNextPage) break;
      after = page.agents.pageInfo.endCursor;
    }
    expect(pages).toBe(3);
    expect(seen).toEqual(["A1", "A2", "A3", "A4", "A5"]);

    // An edge's cursor continues right after that edge.
    const firstPage = await gqlOk<Conn>(a, query, { first: 5 });
    const fromSecond = await gqlOk<Conn>(a, query, { first: 2, after: firstPage.agents.edges[1]!.cursor });
    expect(fromSecond.agents.edges.map((e) => e.node.name)).toEqual(["A3", "A4"]);
  });

  it("rejects invalid input and page arguments with VALIDATION_FAILED and field issues", async () => {
    const a = await newAccount();
    const blank = await gql(a, `mutation { createAgent(input: { name: "   " }) { id } }`);
    expect(codes(blank)).toEqual(["VALIDATION_FAILED"]);
    expect(blank.errors[0]?.extensions?.issues?.map((i) => i.path)).toEqual(["name"]);
    expect(blank.data).toBeNull();

    const tooMany = await gql(a, `{ agents(first: 1000) { edges { cursor } } }`);
    expect(codes(tooMany)).toEqual(["VALIDATION_FAILED"]);
    expect(tooMany.errors[0]?.extensions?.issues?.[0]?.path).toBe("first");

    const badCursor = await gql(a, `{ agents(after: "not-a-cursor") { edges { cursor } } }`);
    expect(codes(badCursor)).toEqual(["VALIDATION_FAILED"]);

    // The key is only ever sent to configured endpoints.
    const foreign = await gql(a, `mutation { createAgent(input: { name: "x", llmBaseUrl: "https://evil.example/v1" }) { id } }`);
    expect(codes(foreign)).toEqual(["VALIDATION_FAILED"]);
    expect(foreign.errors[0]?.extensions?.issues?.[0]?.path).toBe("llmBaseUrl");
  });

  it("keeps accounts apart: B cannot read, list, change or delete A's agent", async () => {
    const a = await newAccount();
    const b = await newAccount();
    const { createAgent } = await gqlOk<{ createAgent: { id: string } }>(a, `mutation { createAgent(input: { name: "A's" }) { id } }`);
    const id = createAgent.id;

    expect(codes(await gql(b, `query($id: ID!) { agent(id: $id) { id } }`, { id }))).toEqual(["NOT_FOUND"]);
    const list = await gqlOk<{ agents: { edges: { node: { id: string } }[] } }>(b, `{ agents { edges { node { id } } } }`);
    expect(list.agents.edges).toEqual([]);
    expect(codes(await gql(b, `mutation($id: ID!) { updateAgent(id: $id, input: { name: "mine" }) { id } }`, { id }))).toEqual(["NOT_FOUND"]);
    expect(codes(await gql(b, `mutation($id: ID!) { deleteAgent(id: $id) }`, { id }))).toEqual(["NOT_FOUND"]);
    expect(codes(await gql(b, `{ tasks(agentId: "${id}") { edges { cursor } } }`))).toEqual(["NOT_FOUND"]);

    const still = await gqlOk<{ agent: { name: string } }>(a, `query($id: ID!) { agent(id: $id) { name } }`, { id });
    expect(still.agent.name).toBe("A's");
  });

  it("needs a valid key for every operation, and never shows the LLM key", async () => {
    const none = await gql(null, `{ agents { edges { cursor } } }`);
    expect(none.status).toBe(401);
    expect(codes(none)).toEqual(["UNAUTHENTICATED"]);
    const wrong = await gql({ headers: { authorization: "Bearer aa_" + "x".repeat(43), "content-type": "application/json" } }, `{ llm { configured } }`);
    expect(codes(wrong)).toEqual(["UNAUTHENTICATED"]);

    const a = await newAccount();
    const status = await gql(a, `{ llm { configured model baseUrl message } }`);
    expect(status.data).toMatchObject({ llm: { configured: true, model: "echo" } });
    expect(TEST_LLM_KEY.length).toBeGreaterThan(0);
    expect(status.text).not.toContain(TEST_LLM_KEY);
  });
});
