// The REST routes through the Worker's fetch handler: auth, validation, happy paths, typed errors.
import { env } from "cloudflare:workers";
import { describe, expect, it } from "vitest";
import type { Execution, Feedback, Task } from "../../functions/types";
import { BODY_LIMITS } from "../../workers/index";
import { call, llmRequests, marker, newAccount, newAgent, newTask, TEST_LLM_KEY } from "../support/fixtures";

interface ErrorJson {
  error: { code: string; message: string; issues: { path: string; message: string }[]; executionId?: string };
}

describe("auth", () => {
  it.each(["/tasks", "/execute_task", "/feedback"])("POST %s without a key is 401 UNAUTHENTICATED", async (path) => {
    const res = await call(path, { body: {} });
    expect(res.status).toBe(401);
    expect((res.json as ErrorJson).error.code).toBe("UNAUTHENTICATED");
    expect(res.headers.get("www-authenticate")).toBe("Bearer");
  });

  it("rejects a well-formed but unknown key, and a malformed one", async () => {
    const unknown = `aa_${"A".repeat(43)}`;
    for (const key of [unknown, "aa_short", "not-a-key"]) {
      const res = await call("/tasks", { body: {}, headers: { authorization: `Bearer ${key}` } });
      expect(res.status).toBe(401);
    }
  });

  it("serves /health and /openapi.json without a key; unknown routes are a JSON 404", async () => {
    expect((await call("/health")).status).toBe(200);
    const missing = await call("/nope");
    expect(missing.status).toBe(404);
    expect((missing.json as ErrorJson).error.code).toBe("NOT_FOUND");
  });
});

describe("methods", () => {
  it("a method a known route does not answer is 405 with Allow and a JSON body, not 404", async () => {
    for (const [path, method, allow] of [["/tasks", "GET", "POST"], ["/execute_task", "PUT", "POST"], ["/health", "DELETE", "GET, HEAD"], ["/graphql", "PATCH", "GET, POST, OPTIONS"]] as const) {
      const res = await call(path, { method });
      expect(res.status, `${method} ${path}`).toBe(405);
      expect(res.headers.get("allow")).toBe(allow);
      expect((res.json as ErrorJson).error.code).toBe("METHOD_NOT_ALLOWED");
    }
    expect((await call("/no-such-route")).status).toBe(404);
  });
});

describe("GET /openapi.json", () => {
  it("is generated from the zod schemas: the three routes and the webhook route, their bodies and the bearer scheme", async () => {
    const res = await call("/openapi.json");
    expect(res.status).toBe(200);
    const doc = res.json as {
      paths: Record<string, { post: { requestBody: unknown; responses: Record<string, unknown>; security?: unknown; parameters?: { name: string; in: string; required?: boolean }[] } }>;
      components: { schemas: Record<string, { properties?: Record<string, unknown> }>; securitySchemes: Record<string, unknown> };
    };
    expect(Object.keys(doc.paths).sort()).toEqual(["/execute_task", "/feedback", "/tasks", "/webhooks/{endpointId}"]);
    // the webhook route is signed, not keyed: its headers are documented, no bearer scheme
    const webhook = doc.paths["/webhooks/{endpointId}"]!.post;
    expect(webhook.security).toBeUndefined();
    expect(webhook.parameters?.filter((p) => p.in === "header" && p.required).map((p) => p.name).sort()).toEqual([
      "x-adaptagent-signature",
      "x-adaptagent-timestamp",
    ]);
    expect(Object.keys(webhook.responses)).toEqual(expect.arrayContaining(["202", "401", "404", "409"]));
    expect(doc.components.securitySchemes.bearerAuth).toMatchObject({ type: "http", scheme: "bearer" });
    expect(Object.keys(doc.components.schemas.ExecuteTaskBody?.properties ?? {})).toEqual(
      expect.arrayContaining(["taskId", "input", "conversationId"]),
    );
    expect(doc.components.schemas.Execution?.properties).toHaveProperty("path");
    expect(doc.paths["/tasks"]?.post.responses).toHaveProperty("201");
  });

  it("states the server's limits on parameters and metadata, and the 415 of a body that is not JSON", async () => {
    const doc = (await call("/openapi.json")).json as { paths: Record<string, { post: { responses: Record<string, unknown> } }> };
    // Every schema of a property called `name`, wherever it is in the document.
    const schemasOf = (name: string) => {
      const found: Record<string, unknown>[] = [];
      const visit = (node: unknown) => {
        if (!node || typeof node !== "object") return;
        const props = (node as { properties?: Record<string, unknown> }).properties;
        if (props?.[name]) found.push(props[name] as Record<string, unknown>);
        for (const value of Object.values(node)) visit(value);
      };
      visit(doc);
      return found;
    };
    for (const name of ["parameters", "metadata"]) {
      // Request bodies (a response's Task.parameters is what was stored): OpenAPI 3.0 has no
      // propertyNames, so the key length is said in words beside the bound it can state.
      const bodies = schemasOf(name).filter((s) => "maxProperties" in s);
      expect(bodies.length, name).toBeGreaterThan(0);
      for (const schema of bodies) {
        expect(schema, name).toMatchObject({ type: "object", maxProperties: 1600 });
        expect(String(schema.description), name).toMatch(/keys of at most 100 characters, at most 8000 characters as compact JSON/);
      }
    }
    for (const path of ["/tasks", "/execute_task", "/feedback"]) expect(doc.paths[path]!.post.responses, path).toHaveProperty("415");
    const a = await newAccount();
    const res = await call("/execute_task", { headers: { ...a.headers, "content-type": "text/plain" }, body: "{}" });
    expect(res.status).toBe(415);
    expect((res.json as ErrorJson).error.code).toBe("UNSUPPORTED_MEDIA_TYPE");
  });
});

describe("POST /tasks", () => {
  it("creates a task with examples (201)", async () => {
    const a = await newAccount();
    const agent = await newAgent(a.deps);
    const res = await call("/tasks", {
      headers: a.headers,
      body: { agentId: agent.id, name: "Intent", labels: ["a", "b"], examples: [{ input: "x", label: "a" }] },
    });
    expect(res.status).toBe(201);
    const task = res.json as Task;
    expect(task).toMatchObject({ agentId: agent.id, name: "Intent", kind: "classification", labels: ["a", "b"] });
    const { n } = (await env.DB.prepare("SELECT COUNT(*) AS n FROM examples WHERE task_id = ?").bind(task.id).first<{ n: number }>())!;
    expect(n).toBe(1);
  });

  it("creates a task from a plain-language request through the LLM", async () => {
    const a = await newAccount();
    const agent = await newAgent(a.deps, { llmModel: "task-json" });
    const request = `sort reviews by mood ${marker()}`;
    const res = await call("/tasks", { headers: a.headers, body: { agentId: agent.id, request } });
    expect(res.status).toBe(201);
    expect(res.json).toMatchObject({ name: `Drafted: ${request.slice(0, 40)}`, labels: ["positive", "negative"], sourceRequest: request });
  });

  it("400 with field issues for a bad body, and for a body that is not JSON", async () => {
    const a = await newAccount();
    const bad = await call("/tasks", { headers: a.headers, body: { agentId: "", name: "" } });
    expect(bad.status).toBe(400);
    expect((bad.json as ErrorJson).error.code).toBe("VALIDATION_FAILED");
    expect((bad.json as ErrorJson).error.issues.length).toBeGreaterThan(0);
    const notJson = await call("/tasks", { headers: a.headers, body: "{ nope" });
    expect(notJson.status).toBe(400);
    expect((notJson.json as ErrorJson).error.code).toBe("VALIDATION_FAILED");
  });

  it("404 for another account's agent", async () => {
    const [a, b] = [await newAccount(), await newAccount()];
    const agentOfA = await newAgent(a.deps);
    const res = await call("/tasks", { headers: b.headers, body: { agentId: agentOfA.id, name: "steal" } });
    expect(res.status).toBe(404);
    expect((res.json as ErrorJson).error.code).toBe("NOT_FOUND");
  });
});

describe("responses say exactly what /openapi.json describes", () => {
  it("no field beyond the documented schema (no accountId) in a task, an execution or a feedback", async () => {
    const a = await newAccount();
    const agent = await newAgent(a.deps);
    const spec = (await call("/openapi.json")).json as { components: { schemas: Record<string, { properties: Record<string, unknown> }> } };
    const documented = (name: string) => Object.keys(spec.components.schemas[name]!.properties).sort();
    const task = await call("/tasks", { headers: a.headers, body: { agentId: agent.id, name: "Shape", labels: ["a", "b"], examples: [{ input: "x", label: "a" }] } });
    expect(Object.keys(task.json as object).sort()).toEqual(documented("Task"));
    const execution = await call("/execute_task", { headers: a.headers, body: { taskId: (task.json as Task).id, input: "y" } });
    expect(Object.keys(execution.json as object).sort()).toEqual(documented("Execution"));
    const feedback = await call("/feedback", { headers: a.headers, body: { executionId: (execution.json as Execution).id, rating: 1 } });
    expect(Object.keys(feedback.json as object).sort()).toEqual(documented("Feedback"));
    expect(JSON.stringify([task.json, execution.json, feedback.json])).not.toContain(a.accountId);
  });
});

describe("POST /execute_task and POST /feedback", () => {
  it("executes (baseline), continues the conversation, and takes feedback that becomes an example", async () => {
    const a = await newAccount();
    const task = await newTask(a.deps);
    const m = marker();
    const first = await call("/execute_task", { headers: a.headers, body: { taskId: task.id, input: `hello ${m}` } });
    expect(first.status).toBe(200);
    const execution = first.json as Execution;
    // A classification task: the LLM's answer is one of its labels (the local LLM picks the first it is offered).
    expect(execution).toMatchObject({ status: "succeeded", path: "llm_baseline", output: "positive", predictedLabel: "positive" });
    const second = await call("/execute_task", {
      headers: a.headers,
      body: { taskId: task.id, input: "again", conversationId: execution.conversationId },
    });
    expect((second.json as Execution).conversationId).toBe(execution.conversationId);

    const fb = await call("/feedback", { headers: a.headers, body: { executionId: execution.id, rating: -1, correctedLabel: "negative" } });
    expect(fb.status).toBe(201);
    const feedback = fb.json as Feedback;
    expect(feedback.exampleId).not.toBeNull();
    expect(JSON.stringify([first.text, second.text, fb.text])).not.toContain(TEST_LLM_KEY);
    expect(await llmRequests(m)).toHaveLength(2); // the second turn's prompt carries the first
  });

  it("maps LLM failures to 502 LLM_UNAVAILABLE with a failed execution stored", async () => {
    const a = await newAccount();
    const task = await newTask(a.deps, { agent: { llmModel: "error-500" } });
    const res = await call("/execute_task", { headers: a.headers, body: { taskId: task.id, input: "hi" } });
    expect(res.status).toBe(502);
    expect((res.json as ErrorJson).error.code).toBe("LLM_UNAVAILABLE");
    expect(res.text).not.toContain(TEST_LLM_KEY);
    const row = await env.DB.prepare("SELECT id, status, error_code FROM executions WHERE task_id = ?").bind(task.id).first();
    expect(row).toEqual({ id: (res.json as ErrorJson).error.executionId, status: "failed", error_code: "LLM_UNAVAILABLE" });
  });

  it("413 PAYLOAD_TOO_LARGE for a body over the route's limit, before it is read (REST and GraphQL)", async () => {
    const a = await newAccount();
    const big = "x".repeat(BODY_LIMITS.small + 1);
    const exec = await call("/execute_task", { headers: a.headers, body: { taskId: "t", input: "x", padding: big } });
    expect(exec.status).toBe(413);
    expect((exec.json as ErrorJson).error.code).toBe("PAYLOAD_TOO_LARGE");
    const huge = JSON.stringify({ query: "{ __typename }", variables: { pad: "y".repeat(BODY_LIMITS.large + 1) } });
    const gql = await call("/graphql", { headers: { ...a.headers, "content-type": "application/json" }, body: huge });
    expect(gql.status).toBe(413);
    expect((gql.json as { errors: { extensions: { code: string } }[] }).errors[0]?.extensions.code).toBe("PAYLOAD_TOO_LARGE");
    // a body within the limit still goes through
    expect((await call("/execute_task", { headers: a.headers, body: { taskId: "nope", input: "x" } })).status).toBe(404);
  });

  it("400 for bad bodies, 404 for unknown ids", async () => {
    const a = await newAccount();
    const bad = await call("/execute_task", { headers: a.headers, body: { taskId: "t", input: "" } });
    expect(bad.status).toBe(400);
    expect((bad.json as ErrorJson).error.issues.map((i) => i.path)).toContain("input");
    expect((await call("/execute_task", { headers: a.headers, body: { taskId: "nope", input: "x" } })).status).toBe(404);
    expect((await call("/feedback", { headers: a.headers, body: { executionId: "nope", rating: 1 } })).status).toBe(404);
    expect((await call("/feedback", { headers: a.headers, body: { executionId: "x" } })).status).toBe(400);
    expect((await call("/feedback", { headers: a.headers, body: { executionId: "x", rating: 5 } })).status).toBe(400);
  });
});
