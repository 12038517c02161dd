// What an agent's LLM is and whether the Worker can reach one at all. The key itself is never
// exposed: there is no field for it, only whether it is set.
import { isLlmConfigured, llmTarget, type LlmEnv } from "../functions/llm";
import type { Agent } from "../functions/types";
import { builder } from "./builder";

export interface LlmStatusShape {
  configured: boolean;
  model: string;
  baseUrl: string;
}

export function llmStatus(env: Env, agent: Pick<Agent, "llmModel" | "llmBaseUrl">): LlmStatusShape {
  const llmEnv = env as LlmEnv;
  return { configured: isLlmConfigured(llmEnv), ...llmTarget(llmEnv, agent) };
}

export const LlmStatusRef = builder.objectRef<LlmStatusShape>("LlmStatus").implement({
  description: "The LLM an agent talks to. Without LLM_API_KEY, task understanding and execution answer LLM_NOT_CONFIGURED.",
  fields: (t) => ({
    configured: t.exposeBoolean("configured", { description: "False: no LLM is configured (the LLM_API_KEY secret is not set)." }),
    model: t.exposeString("model", { description: "The model used: the agent's, or the Worker's LLM_MODEL." }),
    baseUrl: t.exposeString("baseUrl", { description: "The OpenAI-compatible endpoint: the agent's, or the Worker's LLM_BASE_URL." }),
    message: t.string({
      description: "Says plainly whether LLM-dependent features work.",
      resolve: (s) =>
        s.configured
          ? `LLM configured: ${s.model} at ${new URL(s.baseUrl).host}.`
          : "No LLM is configured: set the LLM_API_KEY secret. Task understanding and execution are unavailable.",
    }),
  }),
});

builder.queryField("llm", (t) =>
  t.field({
    type: LlmStatusRef,
    description: "The Worker's default LLM (agents may name another model or allowed endpoint).",
    resolve: (_root, _args, ctx) => llmStatus(ctx.deps.env, { llmModel: null, llmBaseUrl: null }),
  }),
);
