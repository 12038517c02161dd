// Example: one demonstration in a task's support set (from the user, or from Feedback).
import { getExamplesByIds, listExamples, removeExample } from "../functions/examples";
import { addExamples } from "../functions/taskSetup";
import { notFound } from "../functions/errors";
import { builder, QUERY_COST } from "./builder";
import { withoutNulls } from "./input";
import { loadTask } from "./load";
import { childPage, forwardPageArgs, pageArgs, toConnection } from "./page";
import { ExampleConnection, ExampleRef, TaskRef } from "./refs";


export const ExampleSourceEnum = builder.enumType("ExampleSource", {
  values: { user: { description: "Added by the user." }, feedback: { description: "A correction given as Feedback." } },
});

export const ExampleInput = builder.inputType("ExampleInput", {
  description: "Classification: input + label (one of the task's labels). Generation: input + output (label optional: a style).",
  fields: (t) => ({
    input: t.string({ required: true }),
    label: t.string(),
    output: t.string(),
  }),
});

builder.objectType(ExampleRef, {
  description: "One demonstration of a Task.",
  fields: (t) => ({
    id: t.exposeID("id"),
    input: t.exposeString("input", { complexity: QUERY_COST.longText }),
    label: t.exposeString("label", { nullable: true }),
    output: t.exposeString("output", { nullable: true, complexity: QUERY_COST.longText }),
    source: t.field({ type: ExampleSourceEnum, resolve: (e) => e.source }),
    embeddingModelVersion: t.exposeString("embeddingModelVersion", {
      nullable: true,
      description: "The model version its embedding was computed with; null until one is active.",
    }),
    task: t.field({ type: TaskRef, resolve: (e, _args, ctx) => loadTask(ctx, e.taskId) }),
    createdAt: t.expose("createdAt", { type: "DateTime" }),
  }),
});

builder.objectField(TaskRef, "examples", (t) =>
  t.field({
    type: ExampleConnection,
    args: forwardPageArgs(t.arg),
    resolve: async (task, args, ctx) =>
      toConnection(
        await childPage(
          args,
          (first) => ctx.loaders.firstPage("examplesOfTask", first).load(task.id),
          (page) => listExamples(ctx.deps, task.id, page),
        ),
      ),
  }),
);

builder.queryFields((t) => ({
  example: t.field({
    type: ExampleRef,
    args: { id: t.arg.id({ required: true }) },
    resolve: async (_root, { id }, ctx) => {
      const [example] = await getExamplesByIds(ctx.deps, [String(id)]);
      if (!example) throw notFound("Example", String(id));
      return example;
    },
  }),
  examples: t.field({
    type: ExampleConnection,
    args: { taskId: t.arg.id({ required: true }), ...forwardPageArgs(t.arg) },
    resolve: async (_root, { taskId, ...args }, ctx) =>
      toConnection(await listExamples(ctx.deps, String(taskId), pageArgs(args))),
  }),
}));

builder.mutationFields((t) => ({
  addExamples: t.field({
    type: [ExampleRef],
    description: "Adds examples to a task's support set (all or none); they count from the next adaptation.",
    args: { taskId: t.arg.id({ required: true }), examples: t.arg({ type: [ExampleInput], required: true }) },
    resolve: (_root, { taskId, examples }, ctx) => addExamples(ctx.deps, String(taskId), examples.map(withoutNulls)),
  }),
  removeExample: t.field({
    type: "ID",
    description: "Removes an example; returns its id.",
    args: { id: t.arg.id({ required: true }) },
    resolve: async (_root, { id }, ctx) => (await removeExample(ctx.deps, String(id))).id,
  }),
}));
