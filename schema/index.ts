// Assembles the schema: importing a type module registers its types, queries and mutations.
import { builder } from "./builder";

builder.queryField("ping", (t) => t.string({ description: "Temporary: the schema is being built.", resolve: () => "pong" }));

export const schema = builder.toSchema();
