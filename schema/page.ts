// Relay-style connections over the domain's Page<T> (functions/pagination.ts). Forward pagination
// only (first/after), as the list indexes are built for: no `last`/`before` arguments to refuse.
import type { ArgBuilder, ObjectRef } from "@pothos/core";
import { encodeCursor } from "../functions/pagination";
import type { Page, PageArgs } from "../functions/types";
import { LIMITS, pageArgsSchema, parseInput } from "../functions/validation";
import { builder, type PothosTypes } from "./builder";

export interface ConnectionShape<T> {
  edges: { cursor: string; node: T }[];
  pageInfo: { hasNextPage: boolean; hasPreviousPage: boolean; startCursor: string | null; endCursor: string | null };
}

/** Every edge gets a cursor in the same format the domain uses for endCursor. */
export function toConnection<T extends { createdAt: string }>(
  page: Page<T>,
  key: (node: T) => string = (node) => (node as unknown as { id: string }).id,
): ConnectionShape<T> {
  const edges = page.nodes.map((node) => ({ node, cursor: encodeCursor(node.createdAt, key(node)) }));
  return {
    edges,
    pageInfo: {
      hasNextPage: page.hasNextPage,
      hasPreviousPage: false, // not tracked: clients page forward from a cursor they hold
      startCursor: edges[0]?.cursor ?? null,
      endCursor: page.endCursor,
    },
  };
}

/** A named connection type (e.g. TaskConnection) shared by every field that lists that type. */
export function connectionFor<T>(type: ObjectRef<PothosTypes, T>, name: string) {
  return builder.connectionObject({ type, name: `${name}Connection` }, { name: `${name}Edge` });
}

// GraphQL gives null for an omitted-or-null argument; the domain's zod schemas expect undefined.
export function pageArgs(args: { first?: number | null; after?: string | null }): PageArgs {
  return { first: args.first ?? undefined, after: args.after ?? undefined };
}

export const forwardPageArgs = (arg: ArgBuilder<PothosTypes>) => ({
  first: arg.int({ description: "How many to return (1-100, default 20)." }),
  after: arg.string({ description: "The endCursor of a previous page: continue after it." }),
});

/**
 * A parent's child list (agent.tasks, task.examples, …): the first page comes from a loader batched
 * across parents; a page after a cursor is one parent's and goes to the domain's list function.
 */
export async function childPage<T>(
  args: { first?: number | null; after?: string | null },
  firstPage: (first: number) => Promise<Page<T>>,
  continued: (page: PageArgs) => Promise<Page<T>>,
): Promise<Page<T>> {
  const page = parseInput(pageArgsSchema, pageArgs(args));
  if (page.after) return continued(page);
  return firstPage(page.first ?? LIMITS.defaultPageSize);
}
