// Per-request DataLoaders, so a list query's nested fields cost one D1 batch per field, not one query
// per row (agents → tasks → examples…). Each loader calls the batch reader of the table's owner in
// functions/ (no SQL here). Every read is scoped to the request's account, and loaders are created per
// request, so nothing cached ever crosses requests or accounts.
import DataLoader from "dataloader";
import { adaptationsByIds, firstAdaptationsOfTasks, latestAdaptationsOfTasks } from "../functions/adaptations";
import { agentsByIds } from "../functions/agents";
import { conversationsByIds, firstConversationsOfTasks, firstMessagesOfConversations } from "../functions/conversations";
import type { Deps } from "../functions/deps";
import { examplesByIds, firstExamplesOfTasks } from "../functions/examples";
import { executionsByIds, firstExecutionsOfTasks } from "../functions/executions";
import { feedbackOfExecutions, firstFeedbackOfTasks } from "../functions/feedback";
import { modelVersionsByName } from "../functions/modelVersions";
import { firstTasksOfAgents, tasksByIds } from "../functions/tasks";
import type { Page } from "../functions/types";

type FirstPages<T> = (deps: Deps, parentIds: readonly string[], first: number) => Promise<Page<T>[]>;

const CHILD_LISTS = {
  tasksOfAgent: firstTasksOfAgents,
  examplesOfTask: firstExamplesOfTasks,
  executionsOfTask: firstExecutionsOfTasks,
  conversationsOfTask: firstConversationsOfTasks,
  feedbackOfTask: firstFeedbackOfTasks,
  adaptationsOfTask: firstAdaptationsOfTasks,
  messagesOfConversation: firstMessagesOfConversations,
};
type ChildListName = keyof typeof CHILD_LISTS;
type ChildOf<N extends ChildListName> = (typeof CHILD_LISTS)[N] extends FirstPages<infer T> ? T : never;

/** A DataLoader over one owner's batch reader (the reader answers in the keys' order). */
const loader = <V>(read: (keys: readonly string[]) => Promise<V[]>) => new DataLoader<string, V>((keys) => read(keys));

export function createLoaders(deps: Deps) {
  const pageLoaders = new Map<string, DataLoader<string, Page<unknown>>>();
  return {
    agent: loader((ids) => agentsByIds(deps, ids)),
    task: loader((ids) => tasksByIds(deps, ids)),
    example: loader((ids) => examplesByIds(deps, ids)),
    execution: loader((ids) => executionsByIds(deps, ids)),
    conversation: loader((ids) => conversationsByIds(deps, ids)),
    adaptation: loader((ids) => adaptationsByIds(deps, ids)),
    /** The registry is global (not per account). */
    modelVersion: loader((versions) => modelVersionsByName(deps.db, versions)),
    /** The newest Adaptation of each task (null: never adapted). */
    latestAdaptation: loader((taskIds) => latestAdaptationsOfTasks(deps, taskIds)),
    /** All Feedback on each execution, oldest first. */
    feedbackOfExecution: loader((executionIds) => feedbackOfExecutions(deps, executionIds)),

    /** First pages of a child list, batched across parents; one loader per (list, page size). */
    firstPage<N extends ChildListName>(name: N, first: number): DataLoader<string, Page<ChildOf<N>>> {
      const key = `${name}:${first}`;
      let found = pageLoaders.get(key);
      if (!found) {
        const read = CHILD_LISTS[name] as FirstPages<unknown>;
        found = loader((parentIds) => read(deps, parentIds, first));
        pageLoaders.set(key, found);
      }
      return found as DataLoader<string, Page<ChildOf<N>>>;
    },
  };
}

export type Loaders = ReturnType<typeof createLoaders>;
