// The LLM client against the real local OpenAI-compatible server (test/support/fake-llm.ts), through
// the real openai SDK: success, timeout, 500 with retries, malformed bodies, no key, key never leaked.
import { env } from "cloudflare:workers";
import { afterEach, describe, expect, it, vi } from "vitest";
import { AppError } from "../../functions/errors";
import { chatComplete, type LlmEnv } from "../../functions/llm";
import { llmRequests, marker, TEST_LLM_KEY } from "../support/fixtures";

const llmEnv = env as LlmEnv;
const agent = (llmModel: string | null, llmBaseUrl: string | null = null) => ({ llmModel, llmBaseUrl });
const ask = (content: string) => [{ role: "user" as const, content }];

async function failure(promise: Promise<unknown>): Promise<AppError> {
  const error = await promise.then(
    () => null,
    (e: unknown) => e,
  );
  expect(error).toBeInstanceOf(AppError);
  return error as AppError;
}

describe("chatComplete", () => {
  afterEach(() => vi.restoreAllMocks());

  it("answers through the SDK, sending the key only as the bearer token", async () => {
    const m = marker();
    const result = await chatComplete(llmEnv, agent(null), ask(m));
    expect(result).toEqual({ content: `echo: ${m}`, model: "echo", promptTokens: 42, completionTokens: 7 });
    const [request] = await llmRequests(m);
    expect(request?.authorization).toBe(`Bearer ${TEST_LLM_KEY}`);
    expect(request?.body.model).toBe("echo"); // LLM_MODEL, since the agent names none
  });

  it("uses the agent's model and an allowed base URL", async () => {
    const m = marker();
    const alt = llmEnv.LLM_ALLOWED_BASE_URLS!;
    const result = await chatComplete(llmEnv, agent("label:positive", alt), ask(m));
    expect(result.content).toBe("positive");
    const [request] = await llmRequests(m);
    expect(request?.path).toBe("/alt/v1/chat/completions");
  });

  it("refuses to send the key to an endpoint the operator did not allow", async () => {
    const m = marker();
    const error = await failure(chatComplete(llmEnv, agent("echo", "http://127.0.0.1:9/v1"), ask(m)));
    expect(error.code).toBe("LLM_UNAVAILABLE");
    expect(error.message).toContain("LLM_ALLOWED_BASE_URLS");
  });

  it("times out (LLM_TIMEOUT_MS) and retries once (LLM_MAX_RETRIES) before LLM_UNAVAILABLE", async () => {
    const m = marker();
    const error = await failure(chatComplete(llmEnv, agent("slow"), ask(m)));
    expect(error.code).toBe("LLM_UNAVAILABLE");
    expect(error.message).toMatch(/timed out after 1000 ms/);
    expect(await llmRequests(m)).toHaveLength(2);
  });

  it("retries a 500 with backoff, then reports the status", async () => {
    const m = marker();
    const error = await failure(chatComplete(llmEnv, agent("error-500"), ask(m)));
    expect(error.code).toBe("LLM_UNAVAILABLE");
    expect(error.status).toBe(502);
    expect(error.message).toContain("HTTP 500");
    expect(await llmRequests(m)).toHaveLength(2);
  });

  it.each(["malformed", "no-choices"])("reports a %s body as LLM_UNAVAILABLE", async (model) => {
    const error = await failure(chatComplete(llmEnv, agent(model), ask(marker())));
    expect(error.code).toBe("LLM_UNAVAILABLE");
    expect(error.message).toContain("malformed");
  });

  it("without a key: LLM_NOT_CONFIGURED, and nothing is sent", async () => {
    const m = marker();
    const error = await failure(chatComplete({ ...llmEnv, LLM_API_KEY: "" }, agent(null), ask(m)));
    expect(error.code).toBe("LLM_NOT_CONFIGURED");
    expect(await llmRequests(m)).toHaveLength(0);
  });

  it("never puts the key in an error message or a log line", async () => {
    const logged: unknown[] = [];
    for (const level of ["log", "info", "warn", "error", "debug"] as const) {
      vi.spyOn(console, level).mockImplementation((...args: unknown[]) => void logged.push(args));
    }
    const errors = await Promise.all(
      ["error-500", "malformed", "slow"].map((model) => failure(chatComplete(llmEnv, agent(model), ask(marker())))),
    );
    const text = JSON.stringify([logged, errors.map((e) => [e.message, e.issues])]);
    expect(logged.length).toBeGreaterThan(0); // failures are logged ...
    expect(text).not.toContain(TEST_LLM_KEY); // ... without the key
  });
});
