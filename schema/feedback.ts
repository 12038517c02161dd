// Feedback: a rating or correction of an Execution. A correction becomes an Example of the task.
import { notFound } from "../functions/errors";
import { getFeedback, listFeedback, submitFeedback } from "../functions/feedback";
import { builder, QUERY_COST } from "./builder";
import { withoutNulls } from "./input";
import { loadExecution, loadTask } from "./load";
import { childPage, forwardPageArgs, pageArgs, toConnection } from "./page";
import { ExampleRef, ExecutionRef, FeedbackConnection, FeedbackRef, TaskRef } from "./refs";

builder.objectType(FeedbackRef, {
  fields: (t) => ({
    id: t.exposeID("id"),
    rating: t.exposeInt("rating", { nullable: true, description: "-1, 0 or 1." }),
    correctedLabel: t.exposeString("correctedLabel", { nullable: true }),
    correctedOutput: t.exposeString("correctedOutput", { nullable: true, complexity: QUERY_COST.longText }),
    comment: t.exposeString("comment", { complexity: QUERY_COST.longText }),
    execution: t.field({ type: ExecutionRef, resolve: (f, _args, ctx) => loadExecution(ctx, f.executionId) }),
    task: t.field({ type: TaskRef, resolve: (f, _args, ctx) => loadTask(ctx, f.taskId) }),
    example: t.field({
      type: ExampleRef,
      nullable: true,
      description: "The Example the correction became (null without a correction, or once that example is removed).",
      resolve: (f, _args, ctx) => (f.exampleId ? ctx.loaders.example.load(f.exampleId) : null),
    }),
    exportedAt: t.expose("exportedAt", {
      type: "DateTime",
      nullable: true,
      description: "When it went out to the meta-training queue (null: not yet).",
    }),
    createdAt: t.expose("createdAt", { type: "DateTime" }),
  }),
});

builder.objectField(ExecutionRef, "feedback", (t) =>
  t.field({ type: [FeedbackRef], resolve: (e, _args, ctx) => ctx.loaders.feedbackOfExecution.load(e.id) }),
);

builder.objectField(TaskRef, "feedback", (t) =>
  t.field({
    type: FeedbackConnection,
    args: forwardPageArgs(t.arg),
    resolve: async (task, args, ctx) =>
      toConnection(
        await childPage(
          args,
          (first) => ctx.loaders.firstPage("feedbackOfTask", first).load(task.id),
          (page) => listFeedback(ctx.deps, task.id, page),
        ),
      ),
  }),
);

const SubmitFeedbackInput = builder.inputType("SubmitFeedbackInput", {
  description: "At least one of rating, correctedLabel, correctedOutput, comment.",
  fields: (t) => ({
    executionId: t.id({ required: true }),
    rating: t.int({ description: "-1, 0 or 1." }),
    correctedLabel: t.string({ description: "Classification: the right label (one of the task's)." }),
    correctedOutput: t.string({ description: "Generation: the right answer." }),
    comment: t.string(),
  }),
});

builder.queryFields((t) => ({
  feedback: t.field({
    type: FeedbackRef,
    args: { id: t.arg.id({ required: true }) },
    resolve: async (_root, { id }, ctx) => {
      const feedback = await getFeedback(ctx.deps, String(id));
      if (!feedback) throw notFound("Feedback", String(id));
      return feedback;
    },
  }),
  feedbackList: t.field({
    type: FeedbackConnection,
    description: "A task's feedback, oldest first.",
    args: { taskId: t.arg.id({ required: true }), ...forwardPageArgs(t.arg) },
    resolve: async (_root, { taskId, ...args }, ctx) => toConnection(await listFeedback(ctx.deps, String(taskId), pageArgs(args))),
  }),
}));

builder.mutationField("submitFeedback", (t) =>
  t.field({
    type: FeedbackRef,
    args: { input: t.arg({ type: SubmitFeedbackInput, required: true }) },
    resolve: (_root, { input }, ctx) => {
      const { executionId, rating, ...rest } = withoutNulls(input);
      return submitFeedback(ctx.deps, {
        ...rest,
        executionId: String(executionId),
        // Out-of-range ratings reach the shared schema, which names the field in its issue.
        rating: rating as -1 | 0 | 1 | undefined,
      });
    },
  }),
);

