// Agent: instructions and the LLM it talks to. Deleting one removes everything below it.
import { createAgent, deleteAgent, getAgent, listAgents, updateAgent } from "../functions/agents";
import { builder, QUERY_COST } from "./builder";
import { withoutNulls } from "./input";
import { LlmStatusRef, llmStatus } from "./llm";
import { forwardPageArgs, pageArgs, toConnection } from "./page";
import { AgentConnection, AgentRef } from "./refs";

builder.objectType(AgentRef, {
  description: "An AI agent: instructions, and which LLM it uses. Owns Tasks.",
  fields: (t) => ({
    id: t.exposeID("id"),
    name: t.exposeString("name"),
    instructions: t.exposeString("instructions", { complexity: QUERY_COST.longText }),
    llmModel: t.exposeString("llmModel", { nullable: true, description: "null: the Worker's default model." }),
    llmBaseUrl: t.exposeString("llmBaseUrl", { nullable: true, description: "null: the Worker's default endpoint." }),
    llm: t.field({ type: LlmStatusRef, resolve: (agent, _args, ctx) => llmStatus(ctx.deps.env, agent) }),
    createdAt: t.expose("createdAt", { type: "DateTime" }),
    updatedAt: t.expose("updatedAt", { type: "DateTime" }),
  }),
});

const CreateAgentInput = builder.inputType("CreateAgentInput", {
  fields: (t) => ({
    name: t.string({ required: true }),
    instructions: t.string(),
    llmModel: t.string({ description: "Leave out for the Worker's LLM_MODEL." }),
    llmBaseUrl: t.string({ description: "Must be LLM_BASE_URL or in LLM_ALLOWED_BASE_URLS: the Worker's key is sent there." }),
  }),
});

const UpdateAgentInput = builder.inputType("UpdateAgentInput", {
  description: "Fields left out stay as they are; llmModel/llmBaseUrl set to null return to the Worker's defaults.",
  fields: (t) => ({
    name: t.string(),
    instructions: t.string(),
    llmModel: t.string(),
    llmBaseUrl: t.string(),
  }),
});

builder.queryFields((t) => ({
  agent: t.field({
    type: AgentRef,
    args: { id: t.arg.id({ required: true }) },
    resolve: (_root, { id }, ctx) => getAgent(ctx.deps, String(id)),
  }),
  agents: t.field({
    type: AgentConnection,
    args: forwardPageArgs(t.arg),
    resolve: async (_root, args, ctx) => toConnection(await listAgents(ctx.deps, pageArgs(args))),
  }),
}));

builder.mutationFields((t) => ({
  createAgent: t.field({
    type: AgentRef,
    args: { input: t.arg({ type: CreateAgentInput, required: true }) },
    resolve: (_root, { input }, ctx) => createAgent(ctx.deps, withoutNulls(input)),
  }),
  updateAgent: t.field({
    type: AgentRef,
    args: { id: t.arg.id({ required: true }), input: t.arg({ type: UpdateAgentInput, required: true }) },
    resolve: (_root, { id, input }, ctx) =>
      // null means "reset to the default" for the LLM fields only; elsewhere it means "unchanged".
      updateAgent(ctx.deps, String(id), {
        ...withoutNulls(input),
        ...(input.llmModel === null ? { llmModel: null } : {}),
        ...(input.llmBaseUrl === null ? { llmBaseUrl: null } : {}),
      }),
  }),
  deleteAgent: t.field({
    type: "ID",
    description: "Deletes the agent and everything below it; returns its id.",
    args: { id: t.arg.id({ required: true }) },
    resolve: async (_root, { id }, ctx) => (await deleteAgent(ctx.deps, String(id))).id,
  }),
}));
