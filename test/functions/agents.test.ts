import { env } from "cloudflare:workers";
import { describe, expect, it } from "vitest";
import { createAgent, deleteAgent, getAgent, listAgents, updateAgent } from "../../functions/agents";
import { AppError } from "../../functions/errors";
import type { LlmEnv } from "../../functions/llm";
import { newAccount, newAgent } from "../support/fixtures";

const code = (e: unknown) => (e instanceof AppError ? e.code : String(e));

describe("agents", () => {
  it("creates, reads, updates and deletes", async () => {
    const { deps } = await newAccount();
    const agent = await createAgent(deps, { name: "  Helper  ", instructions: "Be kind." });
    expect(agent).toMatchObject({ name: "Helper", instructions: "Be kind.", llmModel: null, llmBaseUrl: null, accountId: deps.accountId });
    expect(await getAgent(deps, agent.id)).toEqual(agent);
    const updated = await updateAgent(deps, agent.id, { llmModel: "gpt-x" });
    expect(updated).toMatchObject({ name: "Helper", instructions: "Be kind.", llmModel: "gpt-x" });
    expect((await updateAgent(deps, agent.id, { llmModel: null })).llmModel).toBeNull();
    expect(await deleteAgent(deps, agent.id)).toMatchObject({ id: agent.id });
    expect(code(await getAgent(deps, agent.id).catch((e) => e))).toBe("NOT_FOUND");
  });

  it("validates input with field paths", async () => {
    const { deps } = await newAccount();
    const error = (await createAgent(deps, { name: "", llmBaseUrl: "ftp://x" }).catch((e) => e)) as AppError;
    expect(error.code).toBe("VALIDATION_FAILED");
    expect(error.issues.map((i) => i.path).sort()).toEqual(["llmBaseUrl", "name"]);
    expect(code(await createAgent(deps, { name: "x".repeat(201) }).catch((e) => e))).toBe("VALIDATION_FAILED");
  });

  it("accepts only LLM endpoints the operator allows (the Worker's key is sent there)", async () => {
    const { deps } = await newAccount();
    const allowed = (env as LlmEnv).LLM_ALLOWED_BASE_URLS!;
    expect((await createAgent(deps, { name: "a", llmBaseUrl: allowed })).llmBaseUrl).toBe(allowed);
    const error = (await createAgent(deps, { name: "b", llmBaseUrl: "https://evil.example/v1" }).catch((e) => e)) as AppError;
    expect(error.code).toBe("VALIDATION_FAILED");
    expect(error.issues[0]?.path).toBe("llmBaseUrl");
  });

  it("paginates by cursor in creation order", async () => {
    const { deps } = await newAccount();
    const created = [];
    for (let i = 0; i < 5; i++) created.push(await newAgent(deps, { name: `agent ${i}` }));
    const first = await listAgents(deps, { first: 2 });
    expect(first.nodes.map((a) => a.name)).toEqual(["agent 0", "agent 1"]);
    expect(first.hasNextPage).toBe(true);
    const second = await listAgents(deps, { first: 2, after: first.endCursor! });
    const third = await listAgents(deps, { first: 2, after: second.endCursor! });
    expect([...first.nodes, ...second.nodes, ...third.nodes].map((a) => a.id)).toEqual(created.map((a) => a.id));
    expect(third.hasNextPage).toBe(false);
    expect(code(await listAgents(deps, { first: 101 }).catch((e) => e))).toBe("VALIDATION_FAILED");
    expect(code(await listAgents(deps, { after: "garbage!" }).catch((e) => e))).toBe("VALIDATION_FAILED");
    expect((await listAgents(deps)).nodes).toHaveLength(5); // default page size 20
  });

  it("404 for unknown ids on update and delete", async () => {
    const { deps } = await newAccount();
    expect(code(await updateAgent(deps, "missing", { name: "x" }).catch((e) => e))).toBe("NOT_FOUND");
    expect(code(await deleteAgent(deps, "missing").catch((e) => e))).toBe("NOT_FOUND");
  });
});
