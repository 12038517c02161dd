// Every input limit in one place, as zod schemas: REST (workers/rest.ts) validates bodies with them and
// publishes them in /openapi.json; domain functions parse with them again, so GraphQL gets the same rules.
import { z } from "zod";
import { validationFailed, type FieldIssue } from "./errors";
import { INVISIBLE_CLASS, invisibleCharacter, labelKey } from "./labels";

export const LIMITS = {
  name: 200,
  text: 8_000, // instructions, descriptions, inputs, outputs
  label: 100,
  labels: 200,
  examplesPerCall: 500,
  // A task's examples are read whole when it adapts and searched when it answers: 10 000 keeps that
  // within a request's CPU and memory, and is far more than few-shot learning needs.
  examplesPerTask: 10_000,
  comment: 2_000,
  pageSize: 100,
  defaultPageSize: 20,
} as const;

// `.meta()` adds to what /openapi.json says where zod's own checks do not translate: a trimmed string
// must hold a character that String.prototype.trim keeps (spelled out, not \S, whose meaning differs
// between regex engines), a label set is unique (uniqueItems; the case- and normalisation-blind part
// of the rule is only in words).
const NOT_BLANK = { pattern: "[^\\t\\n\\v\\f\\r \\u00a0\\u1680\\u2000-\\u200a\\u2028\\u2029\\u202f\\u205f\\u3000\\ufeff]" } as const;
const id = z.string().min(1).max(64);
const name = z.string().trim().min(1).max(LIMITS.name).meta(NOT_BLANK);
const text = z.string().max(LIMITS.text);
// A label: trimmed, not blank, and with no invisible character (functions/labels.ts). The pattern says
// the same of the untrimmed text: blanks at either end, then a core that starts and ends visibly and
// holds no invisible character.
const BLANK_CLASS = NOT_BLANK.pattern.slice(2, -1);
const LABEL_PATTERN = {
  pattern: `^[${BLANK_CLASS}]*[^${BLANK_CLASS}${INVISIBLE_CLASS}](?:[^${INVISIBLE_CLASS}]*[^${BLANK_CLASS}${INVISIBLE_CLASS}])?[${BLANK_CLASS}]*$`,
} as const;
const label = z
  .string()
  .trim()
  .normalize("NFC")
  .min(1)
  .max(LIMITS.label)
  .check((ctx) => {
    const invisible = invisibleCharacter(ctx.value);
    if (invisible) {
      ctx.issues.push({ code: "custom", input: ctx.value, message: `a label must not hold invisible characters (${invisible} found)` });
    }
  })
  .meta(LABEL_PATTERN);
export const labelSet = z
  .array(label)
  .max(LIMITS.labels)
  .refine((labels) => new Set(labels.map(labelKey)).size === labels.length, "labels must be unique, ignoring case and Unicode normalisation")
  .meta({ uniqueItems: true, description: "Unique, also ignoring case and Unicode normalisation." });
// A JSON object of at most LIMITS.text characters, keys of at most 100. JSON Schema cannot say the
// serialized size; maxProperties (an object of that size holds at most that many keys: `{"":0,…}` is 5
// characters a key) and the description say what it can, so /openapi.json is not wider than the server.
const jsonObject = (what: string) => z
  .record(z.string().max(100), z.unknown())
  .refine((p) => JSON.stringify(p).length <= LIMITS.text, `${what} must serialize to at most ${LIMITS.text} characters`)
  .meta({
    maxProperties: Math.floor(LIMITS.text / 5),
    description: `A JSON object: keys of at most 100 characters, at most ${LIMITS.text} characters as compact JSON (JSON.stringify).`,
  });
const parameters = jsonObject("parameters");
const httpUrl = z
  .string()
  .max(500)
  .url()
  .refine((u) => /^https?:\/\//.test(u), "must be an http(s) URL");

export const pageArgsSchema = z.object({
  first: z.number().int().min(1).max(LIMITS.pageSize).optional(),
  after: z.string().max(500).optional(),
});

export const createAgentSchema = z.object({
  name,
  instructions: text.default(""),
  llmModel: z.string().trim().min(1).max(LIMITS.name).meta(NOT_BLANK).nullish(),
  llmBaseUrl: httpUrl.nullish(),
});
export const updateAgentSchema = createAgentSchema.partial().extend({ instructions: text.optional() });

export const exampleInputSchema = z.object({
  input: z.string().trim().min(1).max(LIMITS.text).meta(NOT_BLANK),
  label: label.nullish(),
  output: text.nullish(),
});
export const exampleListSchema = z.array(exampleInputSchema).max(LIMITS.examplesPerCall);

export const taskKindSchema = z.enum(["classification", "generation"]);

export const createTaskSchema = z.object({
  agentId: id,
  name,
  description: text.default(""),
  kind: taskKindSchema.default("classification"),
  labels: labelSet.default([]),
  parameters: parameters.default({}),
  confidenceThreshold: z.number().min(0).max(1).default(0.7),
  examples: exampleListSchema.default([]),
});
export const updateTaskSchema = z.object({
  name: name.optional(),
  description: text.optional(),
  labels: labelSet.optional(),
  parameters: parameters.optional(),
  confidenceThreshold: z.number().min(0).max(1).optional(),
});

export const createTaskFromRequestSchema = z.object({
  agentId: id,
  request: z.string().trim().min(1).max(LIMITS.text).meta(NOT_BLANK),
  examples: exampleListSchema.default([]),
});

/** What the LLM must return when it turns a plain-language request into a task (checked, never trusted). */
export const taskDraftSchema = z.object({
  name,
  description: text.min(1),
  kind: taskKindSchema,
  labels: labelSet,
  parameters: parameters.default({}),
});

export const executeTaskSchema = z.object({
  taskId: id,
  input: z.string().trim().min(1).max(LIMITS.text).meta(NOT_BLANK),
  conversationId: id.nullish(),
});

export const submitFeedbackSchema = z
  .object({
    executionId: id,
    rating: z.number().int().min(-1).max(1).nullish(), // -1, 0 or 1
    correctedLabel: label.nullish(),
    correctedOutput: text.min(1).nullish(),
    comment: z.string().max(LIMITS.comment).default(""),
  })
  .refine(
    (f) => f.rating != null || f.correctedLabel != null || f.correctedOutput != null || f.comment.length > 0,
    { message: "give at least one of rating, correctedLabel, correctedOutput, comment" },
  )
  .meta({
    anyOf: [
      { required: ["rating"], properties: { rating: { type: "integer" } } },
      { required: ["correctedLabel"], properties: { correctedLabel: { type: "string" } } },
      { required: ["correctedOutput"], properties: { correctedOutput: { type: "string" } } },
      { required: ["comment"], properties: { comment: { type: "string", minLength: 1 } } },
    ],
  });

export const registerModelVersionSchema = z.object({
  version: z.string().regex(/^[A-Za-z0-9][A-Za-z0-9._-]{0,63}$/, "version: letters, digits, . _ - (max 64)"),
  r2Prefix: z.string().min(1).max(300),
  manifestSha256: z.string().regex(/^[0-9a-f]{64}$/, "lowercase hex SHA-256"),
  algorithm: z.string().min(1).max(100),
  encoder: z.string().min(1).max(200),
  metrics: z.record(z.string(), z.unknown()).default({}),
  accountId: id.optional(), // an account's own version (serves only that account); absent: global
});

export const createWebhookEndpointSchema = z.object({
  taskId: id,
  callbackUrl: z.string().min(1).max(2048),
});

/** The body of POST /webhooks/{endpointId}: what executeTask needs, plus metadata echoed in the callback. */
export const webhookPostSchema = z
  .object({
    input: executeTaskSchema.shape.input,
    conversationId: id.nullish(),
    metadata: jsonObject("metadata").default({}),
  })
  .strict();

/** Parse or throw VALIDATION_FAILED with one issue per failing field. */
export function parseInput<S extends z.ZodType>(schema: S, value: unknown): z.output<S> {
  const result = schema.safeParse(value);
  if (result.success) return result.data;
  throw validationFailed(toFieldIssues(result.error));
}

export function toFieldIssues(error: z.ZodError): FieldIssue[] {
  return error.issues.map((issue) => ({ path: issue.path.map(String).join("."), message: issue.message }));
}
