// One place that turns expected domain failures (AppError, functions/errors.ts) into GraphQL errors
// with a stable `extensions.code`. Everything else keeps Yoga's masking ("Unexpected error.").
import { GraphQLError } from "graphql";
import { maskError } from "graphql-yoga";
import { AppError } from "../functions/errors";

function findAppError(error: unknown): AppError | null {
  // Resolvers' throws arrive wrapped in a located GraphQLError; the AppError is its originalError.
  let current: unknown = error;
  for (let depth = 0; depth < 4 && current; depth++) {
    if (current instanceof AppError) return current;
    current = current instanceof Error && "originalError" in current ? (current as GraphQLError).originalError : null;
  }
  return null;
}

export function maskGraphQLError(error: unknown, message: string): Error {
  const appError = findAppError(error);
  if (appError) {
    const extensions = {
      code: appError.code,
      ...(appError.issues.length > 0 ? { issues: appError.issues } : {}),
      ...(appError.executionId ? { executionId: appError.executionId } : {}),
      // When a retry may succeed (DATABASE_UNAVAILABLE, RATE_LIMITED): in the error for clients that read
      // only the body, and as the Retry-After header REST sends (Yoga merges `http.headers` into the
      // response and drops `http` from the body).
      ...(appError.retryAfter !== undefined
        ? { retryAfter: appError.retryAfter, http: { headers: { "retry-after": String(appError.retryAfter) } } }
        : {}),
    };
    if (error instanceof GraphQLError) {
      // Returning the same (located) error tells Yoga it was expected: it logs only errors it had to mask.
      Object.assign(error.extensions, extensions);
      return error;
    }
    return new GraphQLError(appError.message, { extensions });
  }
  // isDev=false: never attach the original error (stack, messages that might quote config) to a response.
  return maskError(error, message, false);
}
