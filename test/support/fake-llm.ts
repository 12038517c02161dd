// A real OpenAI-compatible HTTP server for the tests (Node `http`, started by test/setup/global.ts).
// The Worker reaches it through the real `openai` SDK. Behaviour is chosen by the request's `model`,
// so a test picks it by giving its agent that llmModel — no shared mutable state between test files:
//   (anything else)  echo: answers "echo: <last user message>" and usage tokens
//   label:<X>        answers X (a classification answer)
//   slow             answers after 5 s (tests run with LLM_TIMEOUT_MS=1000 → timeout)
//   error-500        HTTP 500 with an OpenAI-style error body
//   malformed        HTTP 200 with a body that is not JSON
//   no-choices       HTTP 200, valid JSON without any choice
//   task-json        a task draft as JSON, derived from the request (task understanding)
//   task-bad-json    prose instead of the JSON the task-understanding prompt asks for
//   free-text        "echo: <last user message>" even when asked for a label (an API that ignores
//                    response_format, and a model that rambles)
//   label-on-retry:<X>  prose first, X once told its answer named no label (the retry prompt)
// Asked for structured output (response_format json_schema with a `label` enum: a classification),
// echo answers {"label": the first enum label its last user message names, else the first one} and
// label:<X> answers {"label": X}, as a strict-schema API would.
// GET /__requests?contains=<marker> returns the recorded requests whose body contains the marker
// (tests put a random marker in their input), with the Authorization header they carried.
// The same server receives webhook callbacks (test/support/callback-receiver.ts).
import { createServer, type IncomingMessage, type Server, type ServerResponse } from "node:http";
import type { AddressInfo } from "node:net";
import { handleCallback } from "./callback-receiver";

export interface RecordedRequest {
  path: string;
  authorization: string | null;
  body: { model?: string; messages?: { role: string; content: string }[]; response_format?: unknown };
  raw: string;
}

const recorded: RecordedRequest[] = [];

async function readBody(req: IncomingMessage): Promise<string> {
  const chunks: Buffer[] = [];
  for await (const chunk of req) chunks.push(chunk as Buffer);
  return Buffer.concat(chunks).toString("utf8");
}

function completion(model: string, content: string) {
  return {
    id: `chatcmpl-${Math.random().toString(36).slice(2)}`,
    object: "chat.completion",
    created: Math.floor(Date.now() / 1000),
    model,
    choices: [{ index: 0, message: { role: "assistant", content }, finish_reason: "stop" }],
    usage: { prompt_tokens: 42, completion_tokens: 7, total_tokens: 49 },
  };
}

function taskDraft(userContent: string) {
  const request = (/Request: (.*)/.exec(userContent)?.[1] ?? userContent).trim();
  return {
    name: `Drafted: ${request.slice(0, 40)}`,
    description: `Classify messages as asked: ${request}`,
    kind: "classification",
    labels: ["positive", "negative"],
    parameters: { drafted_by: "fake-llm" },
  };
}

async function handle(req: IncomingMessage, res: ServerResponse): Promise<void> {
  const url = new URL(req.url ?? "/", "http://localhost");
  const json = (status: number, body: unknown) => {
    res.writeHead(status, { "content-type": "application/json" });
    res.end(JSON.stringify(body));
  };
  if (req.method === "GET" && url.pathname === "/__requests") {
    const marker = url.searchParams.get("contains") ?? "";
    json(200, recorded.filter((r) => r.raw.includes(marker)));
    return;
  }
  if (await handleCallback(req, res, url, () => readBody(req))) return;
  if (req.method !== "POST" || !url.pathname.endsWith("/chat/completions")) {
    json(404, { error: { message: "not found" } });
    return;
  }
  const raw = await readBody(req);
  const body = JSON.parse(raw) as RecordedRequest["body"];
  recorded.push({ path: url.pathname, authorization: req.headers.authorization ?? null, body, raw });
  const model = body.model ?? "";
  const lastUser = [...(body.messages ?? [])].reverse().find((m) => m.role === "user")?.content ?? "";
  if (model === "slow") {
    await new Promise((r) => setTimeout(r, 5_000));
    if (!res.destroyed) json(200, completion(model, "too late"));
    return;
  }
  if (model === "error-500") return json(500, { error: { message: "upstream exploded", type: "server_error" } });
  if (model === "malformed") {
    res.writeHead(200, { "content-type": "application/json" });
    res.end("{ this is not json");
    return;
  }
  if (model === "no-choices") return json(200, { id: "x", object: "chat.completion", model, choices: [] });
  if (model === "task-json") return json(200, completion(model, JSON.stringify(taskDraft(lastUser))));
  if (model === "task-bad-json") return json(200, completion(model, "Sure! Here is a task for you: sentiment."));
  const labels = labelEnum(body.response_format);
  if (model === "free-text") return json(200, completion(model, `echo: ${lastUser}`));
  if (model.startsWith("label-on-retry:")) {
    const retried = lastUser.startsWith("That answer does not name one of the labels");
    const label = model.slice("label-on-retry:".length);
    return json(200, completion(model, retried ? JSON.stringify({ label }) : "Hard to say: it could be several things."));
  }
  if (model.startsWith("label:")) {
    const label = model.slice("label:".length);
    return json(200, completion(model, labels ? JSON.stringify({ label }) : label));
  }
  if (labels) {
    const named = labels.find((l) => lastUser.toLowerCase().includes(l.toLowerCase())) ?? labels[0];
    return json(200, completion(model, JSON.stringify({ label: named })));
  }
  json(200, completion(model, `echo: ${lastUser}`));
}

/** The labels a classification request asks for (response_format json_schema, `label` enum), if it is one. */
function labelEnum(format: unknown): string[] | null {
  const f = format as { type?: string; json_schema?: { schema?: { properties?: { label?: { enum?: unknown } } } } } | undefined;
  const labels = f?.type === "json_schema" ? f.json_schema?.schema?.properties?.label?.enum : undefined;
  return Array.isArray(labels) && labels.length > 0 ? labels.map(String) : null;
}

export async function startFakeLlm(port: number): Promise<Server> {
  const server = createServer((req, res) => {
    handle(req, res).catch((error: unknown) => {
      res.writeHead(500);
      res.end(String(error));
    });
  });
  await new Promise<void>((resolve, reject) => {
    server.once("error", reject);
    server.listen(port, "127.0.0.1", () => resolve());
  });
  return server;
}

/** A port that was free a moment ago (the config needs it before global setup starts the server). */
export async function freePort(): Promise<number> {
  const probe = createServer();
  await new Promise<void>((resolve) => probe.listen(0, "127.0.0.1", () => resolve()));
  const { port } = probe.address() as AddressInfo;
  await new Promise<void>((resolve) => probe.close(() => resolve()));
  return port;
}
