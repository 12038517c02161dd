// Assembles the schema: importing a type module registers its type, inputs, queries and mutations.
import { builder } from "./builder";
import "./llm";
import "./agent";
import "./task";
import "./example";
import "./adaptation";
import "./execution";
import "./conversation";
import "./feedback";
import "./modelVersion";
import "./webhook";

export const schema = builder.toSchema({ sortSchema: true });
