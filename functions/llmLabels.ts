// A classification answer from the LLM is always one of the task's labels, or none: the LLM is asked for
// {"label": one of them} as structured output (the labels as a JSON-schema enum, for the APIs that
// support it), the answer is checked (an API that ignores response_format may answer the bare label,
// which counts), and when it names none the LLM is asked once more, told so. Free text is never an answer.
import { canonicalLabel } from "./labels";
import { chatComplete, type ChatMessage, type LlmEnv, type LlmResult } from "./llm";
import { labelRetryMessage } from "./prompts";
import type { Agent } from "./types";

/** The label an LLM's answer names, if it names one of `labels`: {"label": X} as asked, or X alone. */
export function labelInAnswer(content: string, labels: readonly string[]): string | null {
  let text = content.trim();
  try {
    const json: unknown = JSON.parse(text.replace(/^```(?:json)?\s*|\s*```$/g, ""));
    if (typeof json === "string") text = json;
    else if (json && typeof json === "object" && typeof (json as { label?: unknown }).label === "string") text = (json as { label: string }).label;
  } catch {
    // not JSON: an API that ignores response_format may still answer with the bare label
  }
  return canonicalLabel(labels, text.trim().replace(/^["'`]+|["'`.]+$/g, "")) ?? null;
}

export interface LabelAnswer {
  /** One of `labels` in its stored spelling, or null when the LLM named none, asked twice. */
  label: string | null;
  /** The last call, with the tokens of both calls when there were two. */
  llm: LlmResult;
  attempts: number;
}

/** The LLM's label for the chat `messages` among `labels` (asked at most twice), or null. */
export async function completeLabel(
  env: LlmEnv,
  agent: Pick<Agent, "llmModel" | "llmBaseUrl">,
  messages: ChatMessage[],
  labels: readonly string[],
): Promise<LabelAnswer> {
  const schema = {
    name: "classification",
    schema: { type: "object", properties: { label: { type: "string", enum: [...labels] } }, required: ["label"], additionalProperties: false },
  };
  const first = await chatComplete(env, agent, messages, { schema });
  const label = labelInAnswer(first.content, labels);
  if (label) return { label, llm: first, attempts: 1 };
  const retry = [...messages, { role: "assistant" as const, content: first.content }, labelRetryMessage(labels)];
  const second = await chatComplete(env, agent, retry, { schema });
  const sum = (a: number | null, b: number | null) => (a === null && b === null ? null : (a ?? 0) + (b ?? 0));
  return {
    label: labelInAnswer(second.content, labels),
    llm: { ...second, promptTokens: sum(first.promptTokens, second.promptTokens), completionTokens: sum(first.completionTokens, second.completionTokens) },
    attempts: 2,
  };
}
