// Adaptation: one fit of the active model's head to a task's support set (functions/adaptations.ts).
// Until a model version is active, adaptTask answers MODEL_UNAVAILABLE — never a fake result.
import { listAdaptations } from "../functions/adaptations";
import { adaptTask } from "../functions/predictions";
import { notFound } from "../functions/errors";
import { getTask } from "../functions/tasks";
import { builder } from "./builder";
import { loadTask } from "./load";
import { childPage, forwardPageArgs, toConnection } from "./page";
import { AdaptationConnection, AdaptationRef, ModelVersionRef, TaskRef } from "./refs";

builder.objectType(AdaptationRef, {
  description: "The meta-learned model's head fitted to a Task's Examples (the inner loop, run at the edge).",
  fields: (t) => ({
    id: t.exposeID("id"),
    modelVersion: t.exposeString("modelVersion"),
    model: t.field({
      type: ModelVersionRef,
      nullable: true,
      resolve: (a, _args, ctx) => ctx.loaders.modelVersion.load(a.modelVersion),
    }),
    algorithm: t.exposeString("algorithm"),
    steps: t.exposeInt("steps", { description: "Inner-loop steps baked into the model." }),
    supportSize: t.exposeInt("supportSize"),
    labels: t.exposeStringList("labels", { description: "The head's rows, in order." }),
    supportLossBefore: t.exposeFloat("supportLossBefore", { nullable: true }),
    supportLossAfter: t.exposeFloat("supportLossAfter", { nullable: true }),
    supportAccBefore: t.exposeFloat("supportAccBefore", { nullable: true }),
    supportAccAfter: t.exposeFloat("supportAccAfter", { nullable: true }),
    durationMs: t.exposeFloat("durationMs"),
    supportFingerprint: t.exposeString("supportFingerprint", {
      description: "Hash of the examples and model version it was fitted on: a different one means stale.",
    }),
    task: t.field({ type: TaskRef, resolve: (a, _args, ctx) => loadTask(ctx, a.taskId) }),
    createdAt: t.expose("createdAt", { type: "DateTime" }),
  }),
});

builder.objectFields(TaskRef, (t) => ({
  latestAdaptation: t.field({
    type: AdaptationRef,
    nullable: true,
    description: "null: never adapted (no model version was active).",
    resolve: (task, _args, ctx) => ctx.loaders.latestAdaptation.load(task.id),
  }),
  adaptations: t.field({
    type: AdaptationConnection,
    args: forwardPageArgs(t.arg),
    resolve: async (task, args, ctx) =>
      toConnection(
        await childPage(
          args,
          (first) => ctx.loaders.firstPage("adaptationsOfTask", first).load(task.id),
          (page) => listAdaptations(ctx.deps, task.id, page),
        ),
      ),
  }),
}));

builder.queryField("adaptation", (t) =>
  t.field({
    type: AdaptationRef,
    args: { id: t.arg.id({ required: true }) },
    resolve: async (_root, { id }, ctx) => {
      const adaptation = await ctx.loaders.adaptation.load(String(id));
      if (!adaptation) throw notFound("Adaptation", String(id));
      return adaptation;
    },
  }),
);

builder.queryField("adaptations", (t) =>
  t.field({
    type: AdaptationConnection,
    description: "A task's adaptations, oldest first.",
    args: { taskId: t.arg.id({ required: true }), ...forwardPageArgs(t.arg) },
    resolve: async (_root, { taskId, ...args }, ctx) => {
      const task = await getTask(ctx.deps, String(taskId)); // NOT_FOUND for another account's task
      return toConnection(
        await childPage(
          args,
          (first) => ctx.loaders.firstPage("adaptationsOfTask", first).load(task.id),
          (page) => listAdaptations(ctx.deps, task.id, page),
        ),
      );
    },
  }),
);

builder.mutationField("adaptTask", (t) =>
  t.field({
    type: AdaptationRef,
    description: "Fits the active model to the task's examples. MODEL_UNAVAILABLE while no model version is active.",
    args: { taskId: t.arg.id({ required: true }) },
    resolve: (_root, { taskId }, ctx) => adaptTask(ctx.deps, String(taskId)),
  }),
);
