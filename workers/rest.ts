// The seed document's REST interface as thin adapters over functions/: POST /tasks, POST /execute_task,
// POST /feedback. Bodies are validated by the same zod schemas the functions use, and the same schemas
// generate /openapi.json. Responses are parsed through their documented schemas, which drops what the
// OpenAPI description does not name (the account id, internal fields).
import { createRoute, OpenAPIHono, z } from "@hono/zod-openapi";
import { depsFor } from "../functions/deps";
import { validationFailed } from "../functions/errors";
import { executeTask } from "../functions/executions";
import { submitFeedback } from "../functions/feedback";
import { createTask, createTaskFromRequest } from "../functions/taskSetup";
import { createTaskFromRequestSchema, createTaskSchema, executeTaskSchema, submitFeedbackSchema, toFieldIssues } from "../functions/validation";
import { requireAuth, type AppEnv } from "./auth";
import { errorResponses, ExecutionSchema, FeedbackSchema, jsonBodyResponses, llmErrorResponses, TaskSchema } from "./openapi";
import { webhookRouteDoc } from "./webhooks";

const json = <S extends z.ZodType>(schema: S) => ({ content: { "application/json": { schema } }, required: true });
const security = [{ bearerAuth: [] }];

// Either a full task, or a plain-language request the LLM turns into one (the seed's generate_description).
const createTaskBody = z.union([createTaskSchema, createTaskFromRequestSchema]).meta({ id: "CreateTaskBody" });

const createTaskRoute = createRoute({
  method: "post",
  path: "/tasks",
  operationId: "createTask",
  summary: "Create a task, explicitly or from a plain-language request",
  security,
  request: { body: json(createTaskBody) },
  responses: {
    201: {
      description: "The created task",
      content: { "application/json": { schema: TaskSchema } },
      // The task's id is what executeTask needs (followed by stateful API testers such as Schemathesis).
      links: { ExecuteTask: { operationId: "executeTask", requestBody: { taskId: "$response.body#/id" } } },
    },
    ...errorResponses,
    ...jsonBodyResponses,
    ...llmErrorResponses,
  },
});

const executeTaskRoute = createRoute({
  method: "post",
  path: "/execute_task",
  operationId: "executeTask",
  summary: "Run an input through a task (optionally continuing a conversation)",
  security,
  request: { body: json(executeTaskSchema.meta({ id: "ExecuteTaskBody" })) },
  responses: {
    200: {
      description: "The stored execution",
      content: { "application/json": { schema: ExecutionSchema } },
      links: {
        SubmitFeedback: { operationId: "submitFeedback", requestBody: { executionId: "$response.body#/id" } },
        ContinueConversation: {
          operationId: "executeTask",
          requestBody: { taskId: "$response.body#/taskId", conversationId: "$response.body#/conversationId" },
        },
      },
    },
    ...errorResponses,
    ...jsonBodyResponses,
    ...llmErrorResponses,
  },
});

const feedbackRoute = createRoute({
  method: "post",
  path: "/feedback",
  operationId: "submitFeedback",
  summary: "Rate or correct an execution (a correction becomes a new example)",
  security,
  request: { body: json(submitFeedbackSchema.meta({ id: "FeedbackBody" })) },
  responses: {
    201: { description: "The stored feedback", content: { "application/json": { schema: FeedbackSchema } } },
    ...errorResponses,
    ...jsonBodyResponses,
  },
});

export const rest = new OpenAPIHono<AppEnv>({
  // Body validation failures take the same typed path as every other error (workers/errors.ts).
  defaultHook: (result) => {
    if (!result.success) throw validationFailed(toFieldIssues(result.error));
  },
});

rest.use("/tasks", requireAuth);
rest.use("/execute_task", requireAuth);
rest.use("/feedback", requireAuth);

rest.openapi(createTaskRoute, async (c) => {
  const deps = depsFor(c.env, c.get("auth").accountId);
  const body = c.req.valid("json");
  const task = "request" in body ? await createTaskFromRequest(deps, body) : await createTask(deps, body);
  return c.json(TaskSchema.parse(task), 201); // exactly the documented shape (no accountId)
});

rest.openapi(executeTaskRoute, async (c) => {
  const execution = await executeTask(depsFor(c.env, c.get("auth").accountId), c.req.valid("json"));
  return c.json(ExecutionSchema.parse(execution), 200);
});

rest.openapi(feedbackRoute, async (c) => {
  const feedback = await submitFeedback(depsFor(c.env, c.get("auth").accountId), c.req.valid("json"));
  return c.json(FeedbackSchema.parse(feedback), 201);
});

rest.openAPIRegistry.registerPath(webhookRouteDoc); // served by workers/webhooks.ts

rest.openAPIRegistry.registerComponent("securitySchemes", "bearerAuth", {
  type: "http",
  scheme: "bearer",
  description: "An adaptagent API key: aa_<43 base64url characters>",
});

rest.doc("/openapi.json", {
  openapi: "3.0.3",
  info: {
    title: "adaptagent REST API",
    version: "0.1.0",
    description: "Thin REST adapters over the same functions as the GraphQL API at /graphql.",
  },
});
