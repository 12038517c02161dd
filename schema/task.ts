// Task: what an agent learns from a handful of examples. Created explicitly, or drafted by the LLM
// from a plain-language request ("task understanding").
import { deleteTask, getTask, listTasks } from "../functions/tasks";
import { createTask, createTaskFromRequest, updateTask } from "../functions/taskSetup";
import { builder, QUERY_COST } from "./builder";
import { ExampleInput } from "./example";
import { withoutNulls } from "./input";
import { loadAgent } from "./load";
import { childPage, forwardPageArgs, pageArgs, toConnection } from "./page";
import { AgentRef, TaskConnection, TaskRef } from "./refs";

export const TaskKindEnum = builder.enumType("TaskKind", {
  values: {
    classification: { description: "The answer is one of the task's labels." },
    generation: { description: "The LLM writes the answer, guided by the examples." },
  },
});

builder.objectType(TaskRef, {
  description: "A task an Agent learns from Examples and runs as Executions.",
  fields: (t) => ({
    id: t.exposeID("id"),
    name: t.exposeString("name"),
    description: t.exposeString("description", { complexity: QUERY_COST.longText }),
    kind: t.field({ type: TaskKindEnum, resolve: (task) => task.kind }),
    labels: t.exposeStringList("labels"),
    parameters: t.expose("parameters", { type: "JSON" }),
    confidenceThreshold: t.exposeFloat("confidenceThreshold", {
      description: "A model prediction at least this confident answers a classification alone, without the LLM.",
    }),
    sourceRequest: t.exposeString("sourceRequest", {
      nullable: true,
      description: "The plain-language request the LLM turned into this task (createTaskFromRequest).",
    }),
    agent: t.field({
      type: AgentRef,
      resolve: (task, _args, ctx) => loadAgent(ctx, task.agentId),
    }),
    createdAt: t.expose("createdAt", { type: "DateTime" }),
    updatedAt: t.expose("updatedAt", { type: "DateTime" }),
  }),
});

builder.objectField(AgentRef, "tasks", (t) =>
  t.field({
    type: TaskConnection,
    args: forwardPageArgs(t.arg),
    resolve: async (agent, args, ctx) =>
      toConnection(
        await childPage(
          args,
          (first) => ctx.loaders.firstPage("tasksOfAgent", first).load(agent.id),
          (page) => listTasks(ctx.deps, { agentId: agent.id }, page),
        ),
      ),
  }),
);

const CreateTaskInput = builder.inputType("CreateTaskInput", {
  fields: (t) => ({
    agentId: t.id({ required: true }),
    name: t.string({ required: true }),
    description: t.string(),
    kind: t.field({ type: TaskKindEnum, description: "Default: classification." }),
    labels: t.stringList({ description: "Unique; a classification example's label must be one of them." }),
    parameters: t.field({ type: "JSON", description: "Anything else the task fixes (tone, language…)." }),
    confidenceThreshold: t.float({ description: "0..1, default 0.7." }),
    examples: t.field({ type: [ExampleInput], description: "Stored with the task in one batch (all or nothing)." }),
  }),
});

const CreateTaskFromRequestInput = builder.inputType("CreateTaskFromRequestInput", {
  fields: (t) => ({
    agentId: t.id({ required: true }),
    request: t.string({ required: true, description: "What the task is, in plain language." }),
    examples: t.field({ type: [ExampleInput] }),
  }),
});

const UpdateTaskInput = builder.inputType("UpdateTaskInput", {
  description: "Fields left out stay as they are.",
  fields: (t) => ({
    name: t.string(),
    description: t.string(),
    labels: t.stringList(),
    parameters: t.field({ type: "JSON" }),
    confidenceThreshold: t.float(),
  }),
});

builder.queryFields((t) => ({
  task: t.field({
    type: TaskRef,
    args: { id: t.arg.id({ required: true }) },
    resolve: (_root, { id }, ctx) => getTask(ctx.deps, String(id)),
  }),
  tasks: t.field({
    type: TaskConnection,
    description: "The account's tasks, or one agent's.",
    args: { agentId: t.arg.id(), ...forwardPageArgs(t.arg) },
    resolve: async (_root, { agentId, ...args }, ctx) =>
      toConnection(await listTasks(ctx.deps, { agentId: agentId == null ? null : String(agentId) }, pageArgs(args))),
  }),
}));

builder.mutationFields((t) => ({
  createTask: t.field({
    type: TaskRef,
    args: { input: t.arg({ type: CreateTaskInput, required: true }) },
    resolve: (_root, { input }, ctx) => {
      const { examples, agentId, ...rest } = withoutNulls(input);
      return createTask(ctx.deps, {
        ...rest,
        agentId: String(agentId),
        parameters: rest.parameters as Record<string, unknown> | undefined,
        examples: examples?.map(withoutNulls),
      });
    },
  }),
  createTaskFromRequest: t.field({
    type: TaskRef,
    description: "The LLM turns the request into name, description, kind, labels and parameters. Needs an LLM (LLM_NOT_CONFIGURED otherwise).",
    args: { input: t.arg({ type: CreateTaskFromRequestInput, required: true }) },
    resolve: (_root, { input }, ctx) =>
      createTaskFromRequest(ctx.deps, {
        agentId: String(input.agentId),
        request: input.request,
        examples: input.examples?.map(withoutNulls),
      }),
  }),
  updateTask: t.field({
    type: TaskRef,
    args: { id: t.arg.id({ required: true }), input: t.arg({ type: UpdateTaskInput, required: true }) },
    resolve: (_root, { id, input }, ctx) => {
      const fields = withoutNulls(input);
      return updateTask(ctx.deps, String(id), { ...fields, parameters: fields.parameters as Record<string, unknown> | undefined });
    },
  }),
  deleteTask: t.field({
    type: "ID",
    description: "Deletes the task with its examples, executions, conversations, feedback and adaptations; returns its id.",
    args: { id: t.arg.id({ required: true }) },
    resolve: async (_root, { id }, ctx) => (await deleteTask(ctx.deps, String(id))).id,
  }),
}));
