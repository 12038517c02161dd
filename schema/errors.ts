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
    const located = error instanceof GraphQLError ? error : null;
    return new GraphQLError(appError.message, {
      nodes: located?.nodes,
      source: located?.source,
      positions: located?.positions,
      path: located?.path,
      extensions: {
        code: appError.code,
        ...(appError.issues.length > 0 ? { issues: appError.issues } : {}),
      },
    });
  }
  // isDev=false: never attach the original error (stack, messages that might quote config) to a response.
  return maskError(error, message, false);
}
