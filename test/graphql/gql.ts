// GraphQL calls through the Worker's real fetch handler (Hono, auth, Yoga), with an account's key.
import { call, type TestAccount } from "../support/fixtures";

export interface GqlError {
  message: string;
  path?: (string | number)[];
  extensions?: { code?: string; issues?: { path: string; message: string }[]; executionId?: string };
}

export interface GqlResult<T> {
  status: number;
  data: T | null;
  errors: GqlError[];
  text: string;
}

export async function gql<T = Record<string, unknown>>(
  account: Pick<TestAccount, "headers"> | null,
  query: string,
  variables: Record<string, unknown> = {},
): Promise<GqlResult<T>> {
  const res = await call("/graphql", {
    method: "POST",
    headers: account ? account.headers : { "content-type": "application/json" },
    body: { query, variables },
  });
  const body = (res.json ?? {}) as { data?: T | null; errors?: GqlError[] };
  return { status: res.status, data: body.data ?? null, errors: body.errors ?? [], text: res.text };
}

/** The data of a call that must succeed; otherwise fails with the errors it got. */
export async function gqlOk<T = Record<string, unknown>>(
  account: Pick<TestAccount, "headers">,
  query: string,
  variables: Record<string, unknown> = {},
): Promise<T> {
  const result = await gql<T>(account, query, variables);
  if (result.errors.length > 0 || !result.data) {
    throw new Error(`GraphQL errors (HTTP ${result.status}): ${JSON.stringify(result.errors)}`);
  }
  return result.data;
}

/** The extensions.code of each error, in order. */
export const codes = (result: GqlResult<unknown>) => result.errors.map((e) => e.extensions?.code);
