// The one way out to an LLM: the `openai` SDK against any OpenAI-compatible endpoint. The endpoint and
// model come from the agent or the Worker's vars; the key ONLY from the LLM_API_KEY secret. The key is
// never stored, returned or logged, and is only ever sent to endpoints the operator configured
// (LLM_BASE_URL, or LLM_ALLOWED_BASE_URLS): otherwise any tenant could point an agent at its own server
// and receive the Worker's key in the Authorization header.
import OpenAI, { APIConnectionTimeoutError, APIError } from "openai";
import { z } from "zod";
import { AppError, llmNotConfigured, llmUnavailable } from "./errors";
import type { Agent } from "./types";

/** The secret is not a wrangler var, so wrangler types does not declare it. */
export type LlmEnv = Env & { LLM_API_KEY?: string; LLM_ALLOWED_BASE_URLS?: string };

export interface ChatMessage {
  role: "system" | "user" | "assistant";
  content: string;
}

export interface LlmResult {
  content: string;
  model: string;
  promptTokens: number | null;
  completionTokens: number | null;
}

export interface LlmTarget {
  baseUrl: string;
  model: string;
}

// What we rely on in a chat completion; anything else is a malformed answer (typed error, not a crash).
const completionSchema = z.object({
  model: z.string().optional(),
  choices: z.array(z.object({ message: z.object({ content: z.string().min(1) }) })).min(1),
  usage: z.object({ prompt_tokens: z.number(), completion_tokens: z.number() }).nullish(),
});

const normalize = (url: string) => url.trim().replace(/\/+$/, "");

/** Endpoints the key may be sent to: the default plus the operator's comma-separated allow-list. */
export function allowedBaseUrls(env: LlmEnv): string[] {
  const extra = (env.LLM_ALLOWED_BASE_URLS ?? "").split(",").filter((u) => u.trim() !== "");
  return [env.LLM_BASE_URL, ...extra].map(normalize);
}

export function isAllowedBaseUrl(env: LlmEnv, url: string): boolean {
  return allowedBaseUrls(env).includes(normalize(url));
}

export function llmTarget(env: LlmEnv, agent: Pick<Agent, "llmModel" | "llmBaseUrl">): LlmTarget {
  return { baseUrl: normalize(agent.llmBaseUrl ?? env.LLM_BASE_URL), model: agent.llmModel ?? env.LLM_MODEL };
}

export function isLlmConfigured(env: LlmEnv): boolean {
  return typeof env.LLM_API_KEY === "string" && env.LLM_API_KEY.length > 0;
}

const intVar = (value: string | undefined, fallback: number, min: number, max: number) => {
  const n = Number(value);
  return Number.isFinite(n) ? Math.min(max, Math.max(min, Math.round(n))) : fallback;
};

/** One chat completion. Throws LLM_NOT_CONFIGURED without a key, LLM_UNAVAILABLE on any failure. */
export async function chatComplete(
  env: LlmEnv,
  agent: Pick<Agent, "llmModel" | "llmBaseUrl">,
  messages: ChatMessage[],
  options: { json?: boolean; temperature?: number; schema?: { name: string; schema: Record<string, unknown> } } = {},
): Promise<LlmResult> {
  if (!isLlmConfigured(env)) throw llmNotConfigured();
  const target = llmTarget(env, agent);
  if (!isAllowedBaseUrl(env, target.baseUrl)) {
    throw llmUnavailable(`The agent's LLM endpoint ${new URL(target.baseUrl).host} is not in LLM_ALLOWED_BASE_URLS.`);
  }
  const timeoutMs = intVar(env.LLM_TIMEOUT_MS, 20_000, 100, 120_000);
  const client = new OpenAI({
    apiKey: env.LLM_API_KEY,
    baseURL: target.baseUrl,
    timeout: timeoutMs,
    // The SDK retries timeouts, 408/409/429 and 5xx with exponential backoff and jitter.
    maxRetries: intVar(env.LLM_MAX_RETRIES, 2, 0, 5),
  });
  const where = `${target.model} at ${new URL(target.baseUrl).host}`;
  let raw: unknown;
  try {
    raw = await client.chat.completions.create({
      model: target.model,
      messages,
      temperature: options.temperature ?? 0,
      ...(options.schema
        ? { response_format: { type: "json_schema" as const, json_schema: { name: options.schema.name, strict: true, schema: options.schema.schema } } }
        : options.json ? { response_format: { type: "json_object" as const } } : {}),
    });
  } catch (error) {
    if (error instanceof AppError) throw error;
    const reason =
      error instanceof APIConnectionTimeoutError
        ? `timed out after ${timeoutMs} ms`
        : error instanceof APIError && typeof error.status === "number"
          ? `answered HTTP ${error.status}`
          : error instanceof APIError
            ? "could not be reached"
            : "returned a malformed response";
    // Log the kind of failure only: SDK messages may quote response bodies or headers.
    console.warn(JSON.stringify({ event: "llm_call_failed", target: where, reason }));
    throw llmUnavailable(`The LLM (${where}) ${reason}.`);
  }
  const parsed = completionSchema.safeParse(raw);
  if (!parsed.success) {
    console.warn(JSON.stringify({ event: "llm_call_failed", target: where, reason: "malformed completion" }));
    throw llmUnavailable(`The LLM (${where}) returned a malformed response.`);
  }
  const { choices, usage, model } = parsed.data;
  return {
    content: choices[0]!.message.content.trim(),
    model: model ?? target.model,
    promptTokens: usage?.prompt_tokens ?? null,
    completionTokens: usage?.completion_tokens ?? null,
  };
}

