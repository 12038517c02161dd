// Execution: one input run through a task, with how it was answered (LLM baseline, model, or both).
import { executeTask, getExecution, listExecutions } from "../functions/executions";
import type { DemonstrationRef, LabelScore } from "../functions/types";
import { builder, QUERY_COST } from "./builder";
import { loadConversation, loadTask } from "./load";
import { childPage, forwardPageArgs, pageArgs, toConnection } from "./page";
import { ConversationRef, ExampleRef, ExecutionConnection, ExecutionRef, TaskRef } from "./refs";

const ExecutionStatusEnum = builder.enumType("ExecutionStatus", { values: ["succeeded", "failed"] as const });

const ExecutionPathEnum = builder.enumType("ExecutionPath", {
  values: {
    llm_baseline: { description: "No active model: the LLM answered from the task's examples in context." },
    model: { description: "A confident model prediction answered alone, without the LLM." },
    model_llm: { value: "model+llm", description: "The LLM answered, guided by the model's prediction and retrieved examples." },
  },
});

const LabelScoreRef = builder.objectRef<LabelScore>("LabelScore").implement({
  fields: (t) => ({ label: t.exposeString("label"), score: t.exposeFloat("score") }),
});

const DemonstrationRefType = builder.objectRef<DemonstrationRef>("Demonstration").implement({
  description: "A support example the model retrieved as most similar to the input.",
  fields: (t) => ({
    exampleId: t.exposeID("exampleId"),
    similarity: t.exposeFloat("similarity"),
    example: t.field({
      type: ExampleRef,
      nullable: true,
      description: "null if the example was removed since.",
      resolve: (d, _args, ctx) => ctx.loaders.example.load(d.exampleId),
    }),
  }),
});

builder.objectType(ExecutionRef, {
  description: "One input run through a Task.",
  fields: (t) => ({
    id: t.exposeID("id"),
    input: t.exposeString("input", { complexity: QUERY_COST.longText }),
    output: t.exposeString("output", { nullable: true, complexity: QUERY_COST.longText, description: "null when the execution failed." }),
    status: t.field({ type: ExecutionStatusEnum, resolve: (e) => e.status }),
    errorCode: t.exposeString("errorCode", { nullable: true, description: "The typed error of a failed execution." }),
    path: t.field({ type: ExecutionPathEnum, resolve: (e) => e.path }),
    pathReason: t.exposeString("pathReason"),
    predictedLabel: t.exposeString("predictedLabel", { nullable: true }),
    confidence: t.exposeFloat("confidence", { nullable: true }),
    scores: t.field({ type: [LabelScoreRef], resolve: (e) => e.scores }),
    demonstrations: t.field({ type: [DemonstrationRefType], resolve: (e) => e.demonstrations }),
    adaptationId: t.exposeID("adaptationId", { nullable: true }),
    modelVersion: t.exposeString("modelVersion", { nullable: true }),
    llmModel: t.exposeString("llmModel", { nullable: true, description: "The LLM that answered, if one did." }),
    promptTokens: t.exposeInt("promptTokens", { nullable: true }),
    completionTokens: t.exposeInt("completionTokens", { nullable: true }),
    latencyMs: t.exposeFloat("latencyMs"),
    task: t.field({ type: TaskRef, resolve: (e, _args, ctx) => loadTask(ctx, e.taskId) }),
    conversation: t.field({
      type: ConversationRef,
      nullable: true,
      resolve: (e, _args, ctx) => (e.conversationId ? loadConversation(ctx, e.conversationId) : null),
    }),
    createdAt: t.expose("createdAt", { type: "DateTime" }),
  }),
});

builder.objectField(TaskRef, "executions", (t) =>
  t.field({
    type: ExecutionConnection,
    args: forwardPageArgs(t.arg),
    resolve: async (task, args, ctx) =>
      toConnection(
        await childPage(
          args,
          (first) => ctx.loaders.firstPage("executionsOfTask", first).load(task.id),
          (page) => listExecutions(ctx.deps, task.id, page),
        ),
      ),
  }),
);

builder.queryFields((t) => ({
  execution: t.field({
    type: ExecutionRef,
    args: { id: t.arg.id({ required: true }) },
    resolve: (_root, { id }, ctx) => getExecution(ctx.deps, String(id)),
  }),
  executions: t.field({
    type: ExecutionConnection,
    args: { taskId: t.arg.id({ required: true }), ...forwardPageArgs(t.arg) },
    resolve: async (_root, { taskId, ...args }, ctx) => toConnection(await listExecutions(ctx.deps, String(taskId), pageArgs(args))),
  }),
}));

builder.mutationField("executeTask", (t) =>
  t.field({
    type: ExecutionRef,
    description:
      "Runs the input through the task. Without conversationId a new Conversation starts; with one, the turn continues it. " +
      "A failed LLM call is stored as a failed Execution and answered with LLM_UNAVAILABLE (LLM_NOT_CONFIGURED without a key).",
    args: {
      taskId: t.arg.id({ required: true }),
      input: t.arg.string({ required: true }),
      conversationId: t.arg.id(),
    },
    resolve: (_root, { taskId, input, conversationId }, ctx) =>
      executeTask(ctx.deps, {
        taskId: String(taskId),
        input,
        conversationId: conversationId == null ? undefined : String(conversationId),
      }),
  }),
);

