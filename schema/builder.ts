// Configures the Pothos builder (context, plugins, scalars) and defines no domain types: each type
// lives in its own module, assembled by schema/index.ts.
import SchemaBuilder from "@pothos/core";
import ComplexityPlugin from "@pothos/plugin-complexity";
import RelayPlugin from "@pothos/plugin-relay";
import { getNamedType, getNullableType, isListType, type GraphQLField } from "graphql";
import type { Auth } from "../functions/accounts";
import type { Deps } from "../functions/deps";
import { LIMITS } from "../functions/validation";
import { queryTooComplex } from "../functions/errors";
import type { Loaders } from "./loaders";

export type { Auth };

/** Built fresh for every request, so loader caches never leak between requests or accounts. */
export interface Context {
  deps: Deps;
  auth: Auth;
  loaders: Loaders;
}

/**
 * What one query may cost, counted before any resolver runs (@pothos/plugin-complexity): every field
 * costs 1 and a long text field (input, output, content, ...) `longText`; a connection multiplies what
 * is selected under it by the page it asks for (`first`, default 20), a plain list by `list`. Depth and
 * alias limits alone let a 300-byte query (examples → task → examples, first 100 each) return 55 MB.
 * With these costs a page of 100 examples with their texts costs ~4 300, and no answer can hold more
 * than limit / longText = 1 250 long texts (10 MB at their 8 000-character cap).
 */
export const QUERY_COST = { limit: 25_000, longText: 20, list: 10 } as const;

function fieldComplexity(args: Record<string, unknown>, _ctx: Context, field: GraphQLField<unknown, Context>) {
  if (field.args.some((a) => a.name === "first")) {
    const first = typeof args.first === "number" ? args.first : LIMITS.defaultPageSize;
    return { field: 1, multiplier: Math.max(0, first) };
  }
  // A connection's edges are its page, already counted by the connection field.
  if (field.name === "edges" && getNamedType(field.type).name.endsWith("Edge")) return { field: 1, multiplier: 1 };
  return isListType(getNullableType(field.type)) ? { field: 1, multiplier: QUERY_COST.list } : 1;
}

export const builder = new SchemaBuilder<{
  Context: Context;
  DefaultFieldNullability: false;
  Scalars: {
    DateTime: { Input: string; Output: string };
    JSON: { Input: unknown; Output: unknown };
  };
}>({
  plugins: [ComplexityPlugin, RelayPlugin],
  defaultFieldNullability: false,
  complexity: {
    fieldComplexity,
    limit: { complexity: QUERY_COST.limit },
    complexityError: (_kind, result) => queryTooComplex(result.complexity, result.maxComplexity ?? QUERY_COST.limit),
  },
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

