// Every prompt the service sends, in one place, so the baseline (in-context demonstrations) and the
// model-guided path differ only in what the meta-learned model adds.
import type { ChatMessage } from "./llm";
import type { Prediction } from "./model/index";
import type { Agent, Example, Message, Task } from "./types";

export function taskUnderstandingMessages(
  request: string,
  examples: { input: string; label?: string | null; output?: string | null }[],
): ChatMessage[] {
  const shown = examples.slice(0, 20).map((e) => `- input: ${JSON.stringify(e.input)}${e.label ? ` label: ${JSON.stringify(e.label)}` : ""}`);
  return [
    {
      role: "system",
      content: [
        "You turn a plain-language request into a task definition for an AI agent that learns from a few examples.",
        'Answer with one JSON object only: {"name": string (short), "description": string (what to do, how to answer),',
        '"kind": "classification" | "generation", "labels": string[] (the classes for classification, [] otherwise),',
        '"parameters": object (anything else the request fixes, e.g. tone or language)}.',
      ].join("\n"),
    },
    { role: "user", content: `Request: ${request}${shown.length ? `\nExamples:\n${shown.join("\n")}` : ""}` },
  ];
}

function taskRules(task: Task): string {
  const lines = [`Task: ${task.name}`];
  if (task.description) lines.push(task.description);
  if (Object.keys(task.parameters).length > 0) lines.push(`Parameters: ${JSON.stringify(task.parameters)}`);
  if (task.kind === "classification") {
    lines.push(
      task.labels.length > 0
        ? `Answer with exactly one of these labels and nothing else: ${task.labels.join(", ")}`
        : "Answer with the single best label and nothing else.",
    );
  }
  return lines.join("\n");
}

/** What a demonstration shows the LLM: an example's input and its answer. */
export type Demonstrated = Pick<Example, "input" | "label" | "output">;

const demoAnswer = (task: Task, e: Demonstrated) => (task.kind === "classification" ? (e.label ?? "") : (e.output ?? e.label ?? ""));

/**
 * The chat for one execution: instructions and task rules, the demonstrations as earlier question/answer
 * pairs, the conversation so far, then the new input. With a prediction (model+llm path) the system
 * message also carries the model's label and scores.
 */
export function executionMessages(args: {
  agent: Agent;
  task: Task;
  demonstrations: Demonstrated[];
  history: Message[];
  input: string;
  prediction?: Prediction | null;
}): ChatMessage[] {
  const { agent, task, demonstrations, history, input, prediction } = args;
  const system = [agent.instructions, taskRules(task)].filter((s) => s.trim() !== "");
  if (prediction) {
    const top = prediction.scores.slice(0, 3).map((s) => `${s.label} (${s.score.toFixed(2)})`).join(", ");
    system.push(
      `A classifier adapted to this task's examples predicts "${prediction.label}" with confidence ${prediction.confidence.toFixed(2)}` +
        (top ? ` (top: ${top})` : "") +
        ". Use it as guidance; the demonstrations below are the most similar examples.",
    );
  }
  const messages: ChatMessage[] = [{ role: "system", content: system.join("\n\n") }];
  for (const demo of demonstrations) {
    messages.push({ role: "user", content: demo.input }, { role: "assistant", content: demoAnswer(task, demo) });
  }
  for (const turn of history) messages.push({ role: turn.role, content: turn.content });
  messages.push({ role: "user", content: input });
  return messages;
}

/** Asked once more when a classification answer named none of the labels. */
export const labelRetryMessage = (labels: readonly string[]): ChatMessage => ({
  role: "user",
  content: `That answer does not name one of the labels. Answer with exactly one of these labels and nothing else, as {"label": "<label>"}: ${labels.join(", ")}`,
});
