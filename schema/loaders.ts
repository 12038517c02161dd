// Per-request DataLoaders: nested fields (agent.tasks, task.examples, …) batch their reads here
// instead of issuing one D1 query per parent row.
import type { Deps } from "../functions/deps";

export type Loaders = Record<string, never>;

export function createLoaders(_deps: Deps): Loaders {
  return {};
}
