// Test fixtures: fresh accounts (so tests never see each other's rows), quick agents/tasks, calls
// through the Worker's real fetch handler, and a view of what the local LLM server received.
import { env, exports } from "cloudflare:workers";
import { createAccountWithKey, type Auth } from "../../functions/accounts";
import { createAgent, type CreateAgentInput } from "../../functions/agents";
import { depsFor, type Deps } from "../../functions/deps";
import type { LlmEnv } from "../../functions/llm";
import { createTask, type CreateTaskInput } from "../../functions/taskSetup";
import type { Agent, Task } from "../../functions/types";
import type { RecordedRequest } from "./fake-llm";

/** The LLM key the tests run with (vitest.config.ts): it must never show up in a response or a log. */
export const TEST_LLM_KEY = (env as LlmEnv).LLM_API_KEY ?? "";

export interface TestAccount {
  accountId: string;
  apiKey: string;
  auth: Auth;
  deps: Deps;
  headers: Record<string, string>; // Authorization + JSON content type, for fetch()
}

export async function newAccount(options: { isAdmin?: boolean; env?: Partial<LlmEnv> } = {}): Promise<TestAccount> {
  const { accountId, apiKey } = await createAccountWithKey(env.DB, `test-${crypto.randomUUID().slice(0, 8)}`, options);
  const deps = depsFor({ ...env, ...options.env } as Env, accountId);
  return {
    accountId,
    apiKey,
    auth: { accountId, isAdmin: options.isAdmin ?? false },
    deps,
    headers: { authorization: `Bearer ${apiKey}`, "content-type": "application/json" },
  };
}

/** Deps whose Worker env differs (e.g. no LLM key), for the same account. */
export function withEnv(deps: Deps, overrides: Partial<LlmEnv>): Deps {
  return { ...deps, env: { ...deps.env, ...overrides } as Env };
}

export function newAgent(deps: Deps, input: Partial<CreateAgentInput> = {}): Promise<Agent> {
  return createAgent(deps, { name: "Support triage", instructions: "Be brief.", ...input });
}

export const SENTIMENT_EXAMPLES = [
  { input: "I love this product", label: "positive" },
  { input: "Fantastic support, thank you", label: "positive" },
  { input: "This is broken again", label: "negative" },
  { input: "Worst purchase ever", label: "negative" },
];

/** A classification task with four examples; creates an agent unless one is given. */
export async function newTask(deps: Deps, input: Partial<CreateTaskInput> & { agent?: Partial<CreateAgentInput> } = {}): Promise<Task> {
  const { agent: agentInput, ...taskInput } = input;
  const agentId = taskInput.agentId ?? (await newAgent(deps, agentInput)).id;
  return createTask(deps, {
    agentId,
    name: "Sentiment",
    description: "Tell whether a customer message is positive or negative.",
    kind: "classification",
    labels: ["positive", "negative"],
    examples: SENTIMENT_EXAMPLES,
    ...taskInput,
  });
}

/** A request through the Worker's own fetch handler (Hono app, middleware, onError). */
export async function call(
  path: string,
  init: { method?: string; body?: unknown; headers?: Record<string, string> } = {},
): Promise<{ status: number; json: unknown; text: string; headers: Headers }> {
  const res = await exports.default.fetch(`http://local${path}`, {
    method: init.method ?? (init.body === undefined ? "GET" : "POST"),
    headers: init.headers,
    body: init.body === undefined ? undefined : typeof init.body === "string" ? init.body : JSON.stringify(init.body),
  });
  const text = await res.text();
  let json: unknown = null;
  try {
    json = JSON.parse(text);
  } catch {
    // not JSON (e.g. the GraphiQL page)
  }
  return { status: res.status, json, text, headers: res.headers };
}

/** What the local LLM server received in requests whose body contains `marker`. */
export async function llmRequests(marker: string): Promise<RecordedRequest[]> {
  const base = new URL((env as LlmEnv).LLM_BASE_URL).origin;
  const res = await fetch(`${base}/__requests?contains=${encodeURIComponent(marker)}`);
  return (await res.json()) as RecordedRequest[];
}

export const marker = (prefix = "m") => `${prefix}-${crypto.randomUUID()}`;
