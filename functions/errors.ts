// Every failure the service expects, with a stable code. GraphQL exposes `code` in the error's
// extensions; REST maps it to an HTTP status with a JSON body. Anything else is masked as internal.
export type ErrorCode =
  | "UNAUTHENTICATED"
  | "FORBIDDEN"
  | "NOT_FOUND"
  | "VALIDATION_FAILED"
  | "CONFLICT"
  | "LLM_NOT_CONFIGURED"
  | "LLM_UNAVAILABLE"
  | "MODEL_UNAVAILABLE"
  | "PAYLOAD_TOO_LARGE"
  | "QUERY_TOO_COMPLEX"
  | "RATE_LIMITED"
  | "DATABASE_UNAVAILABLE"
  | "WEBHOOKS_NOT_CONFIGURED";

export interface FieldIssue {
  path: string;
  message: string;
}

export class AppError extends Error {
  constructor(
    readonly code: ErrorCode,
    message: string,
    readonly status: number,
    readonly issues: FieldIssue[] = [],
    /** For the operator's logs only (R2 keys, ONNX Runtime's text): never in a response. */
    readonly detail?: string,
    /** The failed Execution this error was stored as, when there is one (in every response). */
    readonly executionId?: string,
    /** Seconds after which a retry may succeed (the Retry-After header of a 429). */
    readonly retryAfter?: number,
  ) {
    super(message);
    this.name = "AppError";
  }

  /** The same error, naming the failed Execution that records it. */
  forExecution(executionId: string): AppError {
    return new AppError(this.code, this.message, this.status, this.issues, this.detail, executionId, this.retryAfter);
  }
}

export const unauthenticated = (message = "A valid API key is required (Authorization: Bearer <key>).") =>
  new AppError("UNAUTHENTICATED", message, 401);
export const forbidden = (message: string) => new AppError("FORBIDDEN", message, 403);
/** The most characters of a client's value an error message quotes back. */
export const ECHO_MAX = 100;
/**
 * A client's value as an error message quotes it: cut at ECHO_MAX characters with an ellipsis, so that
 * an answer never grows with what was sent (a 1 MB id is not sent back in a 1 MB message).
 */
export function echoed(value: string, max = ECHO_MAX): string {
  if (value.length <= max) return value;
  let cut = value.slice(0, max);
  const last = cut.charCodeAt(cut.length - 1);
  if (last >= 0xd800 && last <= 0xdbff) cut = cut.slice(0, -1); // never half a surrogate pair
  return `${cut}…`;
}
export const notFound = (what: string, id: string) => new AppError("NOT_FOUND", `${what} ${echoed(id)} was not found.`, 404);
export const validationFailed = (issues: FieldIssue[], message = "The input is not valid.") =>
  new AppError("VALIDATION_FAILED", message, 400, issues);
export const conflict = (message: string) => new AppError("CONFLICT", message, 409);
export const llmNotConfigured = () =>
  new AppError("LLM_NOT_CONFIGURED", "No LLM is configured: set the LLM_API_KEY secret.", 503);
export const llmUnavailable = (message: string) => new AppError("LLM_UNAVAILABLE", message, 502);
export const payloadTooLarge = (limitBytes: number) =>
  new AppError("PAYLOAD_TOO_LARGE", `The request body is larger than this route accepts (${limitBytes} bytes).`, 413);
export const rateLimited = (what: string, periodSeconds: number) =>
  new AppError("RATE_LIMITED", `Too many ${what}: try again in ${periodSeconds} s.`, 429, [], undefined, undefined, periodSeconds);
/** `maybeWritten`: the connection was lost during a write, which may or may not have been committed. */
export const databaseUnavailable = (maybeWritten = false) =>
  new AppError(
    "DATABASE_UNAVAILABLE",
    maybeWritten
      ? "The connection to the database was lost while writing: the change may or may not have been saved; read it back before retrying."
      : "The database is busy right now and nothing was changed by this request; try again shortly.",
    503, [], undefined, undefined, 1,
  );
export const queryTooComplex = (cost: number, limit: number) =>
  new AppError(
    "QUERY_TOO_COMPLEX",
    `The query costs ${cost}, over the limit of ${limit}: ask for smaller pages (first) or fewer nested lists, and page through the rest.`,
    400,
  );
export const modelUnavailable = (message: string) => new AppError("MODEL_UNAVAILABLE", message, 503);
/** The active model version cannot be loaded: tenants get a plain message, `detail` goes to the logs. */
export const modelBroken = (detail: string) =>
  new AppError("MODEL_UNAVAILABLE", "The active model version cannot be loaded right now; the operator's logs say why.", 503, [], detail);
