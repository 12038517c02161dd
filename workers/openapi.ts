// Response shapes for the REST routes' OpenAPI description (request bodies come straight from
// functions/validation.ts). Named components so /openapi.json reads like the GraphQL types.
import { z } from "@hono/zod-openapi";

const nullableString = z.string().nullable();

export const ErrorSchema = z
  .object({
    error: z.object({
      code: z.string().openapi({ example: "VALIDATION_FAILED" }),
      message: z.string(),
      issues: z.array(z.object({ path: z.string(), message: z.string() })),
      executionId: z.string().optional().openapi({ description: "The failed Execution that records this error, when there is one" }),
    }),
  })
  .openapi("Error");

export const TaskSchema = z
  .object({
    id: z.string(),
    agentId: z.string(),
    name: z.string(),
    description: z.string(),
    kind: z.enum(["classification", "generation"]),
    labels: z.array(z.string()),
    parameters: z.record(z.string(), z.unknown()),
    confidenceThreshold: z.number(),
    sourceRequest: nullableString,
    createdAt: z.string(),
    updatedAt: z.string(),
  })
  .openapi("Task");

export const ExecutionSchema = z
  .object({
    id: z.string(),
    taskId: z.string(),
    conversationId: nullableString,
    input: z.string(),
    output: nullableString,
    status: z.enum(["succeeded", "failed"]),
    errorCode: nullableString,
    path: z.enum(["llm_baseline", "model", "model+llm"]),
    pathReason: z.string(),
    predictedLabel: nullableString,
    confidence: z.number().nullable(),
    scores: z.array(z.object({ label: z.string(), score: z.number() })),
    demonstrations: z.array(z.object({ exampleId: z.string(), similarity: z.number() })),
    adaptationId: nullableString,
    modelVersion: nullableString,
    llmModel: nullableString,
    promptTokens: z.number().nullable(),
    completionTokens: z.number().nullable(),
    latencyMs: z.number(),
    createdAt: z.string(),
  })
  .openapi("Execution");

export const FeedbackSchema = z
  .object({
    id: z.string(),
    taskId: z.string(),
    executionId: z.string(),
    rating: z.number().nullable(),
    correctedLabel: nullableString,
    correctedOutput: nullableString,
    comment: z.string(),
    exampleId: nullableString.openapi({ description: "the Example a correction became" }),
    exportedAt: nullableString,
    createdAt: z.string(),
  })
  .openapi("Feedback");

export const errorResponses = {
  400: { description: "Invalid input (VALIDATION_FAILED)", content: { "application/json": { schema: ErrorSchema } } },
  401: { description: "Missing or unknown API key (UNAUTHENTICATED)", content: { "application/json": { schema: ErrorSchema } } },
  404: { description: "Not found in this account (NOT_FOUND)", content: { "application/json": { schema: ErrorSchema } } },
  429: {
    description: "Too many requests with this key, or too many failed authentications from this address (RATE_LIMITED); Retry-After says when to retry",
    headers: { "Retry-After": { description: "seconds", schema: { type: "integer" } } },
    content: { "application/json": { schema: ErrorSchema } },
  },
} as const;

/** Routes that read a JSON body: any other Content-Type is refused before the body is read. */
export const jsonBodyResponses = {
  415: {
    description: "The body is not sent as application/json (UNSUPPORTED_MEDIA_TYPE)",
    content: { "application/json": { schema: ErrorSchema } },
  },
} as const;

export const llmErrorResponses = {
  502: { description: "The LLM failed (LLM_UNAVAILABLE)", content: { "application/json": { schema: ErrorSchema } } },
  503: { description: "No LLM configured (LLM_NOT_CONFIGURED)", content: { "application/json": { schema: ErrorSchema } } },
} as const;
