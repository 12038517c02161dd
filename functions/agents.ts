// Agents: instructions and which LLM endpoint/model they use. Deleting one cascades (D1 foreign keys)
// through its tasks, examples, executions, conversations, feedback and adaptations.
import { newId } from "./ids";
import type { z } from "zod";
import type { Deps } from "./deps";
import { notFound, validationFailed } from "./errors";
import { isAllowedBaseUrl, type LlmEnv } from "./llm";
import { rowsByIds, type SqlCondition } from "./d1";
import { listPage } from "./pagination";
import { nowIso, toAgent, type AgentRow } from "./rows";
import type { Agent, Page, PageArgs } from "./types";
import { createAgentSchema, parseInput, updateAgentSchema } from "./validation";

export type CreateAgentInput = z.input<typeof createAgentSchema>;
export type UpdateAgentInput = z.input<typeof updateAgentSchema>;

function checkBaseUrl(deps: Deps, url: string | null | undefined): void {
  if (url && !isAllowedBaseUrl(deps.env as LlmEnv, url)) {
    throw validationFailed([
      { path: "llmBaseUrl", message: "must be LLM_BASE_URL or one of LLM_ALLOWED_BASE_URLS (the Worker's key is only sent there)" },
    ]);
  }
}

/** The agent's row, for callers that batch it with other reads (read it back with agentOfRow). */
export const agentStatement = (deps: Deps, id: string) =>
  deps.db.prepare("SELECT * FROM agents WHERE id = ? AND account_id = ?").bind(id, deps.accountId);

/** SQL true while the agent's row is still at this version (a write batch's guard). */
export const agentUnchanged = (deps: Deps, id: string, version: number): SqlCondition => ({
  sql: "EXISTS (SELECT 1 FROM agents WHERE id = ? AND account_id = ? AND version = ?)",
  params: [id, deps.accountId, version],
});

export function agentOfRow(row: AgentRow | undefined, id: string): Agent {
  if (!row) throw notFound("Agent", id);
  return toAgent(row);
}

export async function getAgent(deps: Deps, id: string): Promise<Agent> {
  return agentOfRow((await agentStatement(deps, id).first<AgentRow>()) ?? undefined, id);
}

/** Many agents by id, in the callers' order (null: not this account's), for GraphQL's loaders. */
export const agentsByIds = (deps: Deps, ids: readonly string[]) => rowsByIds(deps.db, "agents", deps.accountId, ids, toAgent);

export async function listAgents(deps: Deps, page: PageArgs = {}): Promise<Page<Agent>> {
  return listPage<AgentRow, Agent>(deps.db, { table: "agents", where: "account_id = ?", params: [deps.accountId], map: toAgent }, page);
}

export async function createAgent(deps: Deps, input: CreateAgentInput): Promise<Agent> {
  const data = parseInput(createAgentSchema, input);
  checkBaseUrl(deps, data.llmBaseUrl);
  const id = newId();
  await deps.db
    .prepare("INSERT INTO agents (id, account_id, name, instructions, llm_model, llm_base_url) VALUES (?, ?, ?, ?, ?, ?)")
    .bind(id, deps.accountId, data.name, data.instructions, data.llmModel ?? null, data.llmBaseUrl ?? null)
    .run();
  return getAgent(deps, id);
}

/** Fields left out stay as they are; llmModel/llmBaseUrl set to null fall back to the Worker's defaults. */
export async function updateAgent(deps: Deps, id: string, input: UpdateAgentInput): Promise<Agent> {
  const data = parseInput(updateAgentSchema, input);
  checkBaseUrl(deps, data.llmBaseUrl);
  await getAgent(deps, id);
  const columns: Record<string, unknown> = {
    name: data.name,
    instructions: data.instructions,
    llm_model: data.llmModel,
    llm_base_url: data.llmBaseUrl,
  };
  const set = Object.entries(columns).filter(([, v]) => v !== undefined);
  if (set.length > 0) {
    await deps.db
      .prepare(`UPDATE agents SET ${set.map(([c]) => `${c} = ?`).join(", ")}, updated_at = ?, version = version + 1 WHERE id = ? AND account_id = ?`)
      .bind(...set.map(([, v]) => v), nowIso(), id, deps.accountId)
      .run();
  }
  return getAgent(deps, id);
}

/** Returns the agent as it was; everything below it goes with it (ON DELETE CASCADE). */
export async function deleteAgent(deps: Deps, id: string): Promise<Agent> {
  const agent = await getAgent(deps, id);
  await deps.db.prepare("DELETE FROM agents WHERE id = ? AND account_id = ?").bind(id, deps.accountId).run();
  return agent;
}
