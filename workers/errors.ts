// The one place an error becomes an HTTP response: AppError → its status and
// `{error: {code, message, issues}}`; Hono's own 4xx (malformed JSON, …) keep their status; anything
// else is masked as a 500 and logged (message and stack only: never request bodies or bindings).
import type { Context } from "hono";
import { HTTPException } from "hono/http-exception";
import { AppError } from "../functions/errors";

export interface ErrorBody {
  error: { code: string; message: string; issues: { path: string; message: string }[]; executionId?: string };
}

function errorHeaders(error: AppError): Record<string, string> {
  return {
    ...(error.code === "UNAUTHENTICATED" ? { "www-authenticate": "Bearer" } : {}),
    ...(error.retryAfter !== undefined ? { "retry-after": String(error.retryAfter) } : {}),
  };
}

/** An AppError answered before the GraphQL layer runs, shaped like every answer of /graphql. */
export function graphqlErrorResponse(error: AppError): Response {
  return Response.json(
    { errors: [{ message: error.message, extensions: { code: error.code } }] },
    { status: error.status, headers: errorHeaders(error) },
  );
}

export function errorResponse(error: unknown, c: Context): Response {
  if (error instanceof AppError) {
    const headers = errorHeaders(error);
    const body: ErrorBody = {
      error: { code: error.code, message: error.message, issues: error.issues, ...(error.executionId ? { executionId: error.executionId } : {}) },
    };
    return c.json(body, error.status as 400, headers);
  }
  if (error instanceof HTTPException && error.status < 500) {
    if (error.status === 415) {
      const message = "The body must be sent as JSON: Content-Type: application/json.";
      return c.json({ error: { code: "UNSUPPORTED_MEDIA_TYPE", message, issues: [] } } satisfies ErrorBody, 415);
    }
    const code = error.status === 400 ? "VALIDATION_FAILED" : error.status === 404 ? "NOT_FOUND" : "BAD_REQUEST";
    return c.json({ error: { code, message: error.message || "Bad request.", issues: [] } } satisfies ErrorBody, error.status);
  }
  console.error(JSON.stringify({ event: "unhandled_error", path: new URL(c.req.url).pathname, message: String(error), stack: error instanceof Error ? error.stack : undefined }));
  return c.json({ error: { code: "INTERNAL", message: "Internal error.", issues: [] } } satisfies ErrorBody, 500);
}
