// Configures the Pothos builder (context, plugins, scalars) and defines no domain types: each type
// lives in its own module, assembled by schema/index.ts.
import SchemaBuilder from "@pothos/core";
import RelayPlugin from "@pothos/plugin-relay";
import type { Auth } from "../functions/accounts";
import type { Deps } from "../functions/deps";
import type { Loaders } from "./loaders";

export type { Auth };

/** Built fresh for every request, so loader caches never leak between requests or accounts. */
export interface Context {
  deps: Deps;
  auth: Auth;
  loaders: Loaders;
}

export const builder = new SchemaBuilder<{
  Context: Context;
  DefaultFieldNullability: false;
  Scalars: {
    DateTime: { Input: string; Output: string };
    JSON: { Input: unknown; Output: unknown };
  };
}>({
  plugins: [RelayPlugin],
  defaultFieldNullability: false,
  relay: {
    clientMutationId: "omit",
    cursorType: "String",
    // No global `node(id)` lookups: every read goes through a field that scopes by account.
    nodeQueryOptions: false,
    nodesQueryOptions: false,
  },
});

// D1 stores ISO-8601 UTC strings; they pass through unchanged.
builder.scalarType("DateTime", {
  description: "An ISO-8601 timestamp in UTC, e.g. 2026-11-29T05:00:00.000Z.",
  serialize: (value) => value,
  parseValue: (value) => {
    if (typeof value !== "string" || Number.isNaN(Date.parse(value))) throw new TypeError("DateTime must be an ISO-8601 string");
    return value;
  },
});

builder.scalarType("JSON", {
  description: "Arbitrary JSON (task parameters, model metrics).",
  serialize: (value) => value,
  parseValue: (value) => value,
});

builder.queryType({});
builder.mutationType({});

export type PothosTypes = typeof builder extends PothosSchemaTypes.SchemaBuilder<infer T> ? T : never;

