// WebhookEndpoint and WebhookDelivery: a task executed by signed posts from another system, its results
// posted back to a callback URL (functions/webhookEndpoints.ts, functions/webhookDeliveries.ts).
import { getExecution } from "../functions/executions";
import { getWebhookDelivery, listWebhookDeliveries, redeliver } from "../functions/webhookDeliveries";
import {
  createWebhookEndpoint, deleteWebhookEndpoint, getWebhookEndpoint, listWebhookEndpoints, rotateWebhookSecret,
  setWebhookEndpointEnabled, type EndpointWithSecret,
} from "../functions/webhookEndpoints";
import { builder, QUERY_COST } from "./builder";
import { loadTask } from "./load";
import { forwardPageArgs, pageArgs, toConnection } from "./page";
import { ExecutionRef, TaskRef, WebhookDeliveryConnection, WebhookDeliveryRef, WebhookEndpointConnection, WebhookEndpointRef } from "./refs";

const DeliveryStatusEnum = builder.enumType("WebhookDeliveryStatus", {
  values: ["queued", "executing", "succeeded", "failed", "delivered", "dead"] as const,
  description: "queued → executing → succeeded | failed (the Execution's outcome) → delivered (callback 2xx) | dead (every attempt failed).",
});

builder.objectType(WebhookEndpointRef, {
  description:
    "A signed inbound URL, POST /webhooks/{id}, that executes a task; each result is posted to callbackUrl, signed with the same secret.",
  fields: (t) => ({
    id: t.exposeID("id"),
    task: t.field({ type: TaskRef, resolve: (e, _args, ctx) => loadTask(ctx, e.taskId) }),
    callbackUrl: t.exposeString("callbackUrl"),
    enabled: t.exposeBoolean("enabled", { description: "A disabled endpoint answers 403 to posts." }),
    secretRotatedAt: t.expose("secretRotatedAt", { type: "DateTime", nullable: true }),
    deliveries: t.field({
      type: WebhookDeliveryConnection,
      args: forwardPageArgs(t.arg),
      resolve: async (e, args, ctx) => toConnection(await listWebhookDeliveries(ctx.deps, e.id, pageArgs(args))),
    }),
    createdAt: t.expose("createdAt", { type: "DateTime" }),
    updatedAt: t.expose("updatedAt", { type: "DateTime" }),
  }),
});

builder.objectType(WebhookDeliveryRef, {
  description: "One inbound post and what became of it.",
  fields: (t) => ({
    id: t.exposeID("id"),
    endpoint: t.field({ type: WebhookEndpointRef, resolve: (d, _args, ctx) => getWebhookEndpoint(ctx.deps, d.endpointId) }),
    idempotencyKey: t.exposeString("idempotencyKey", { nullable: true }),
    input: t.exposeString("input", { complexity: QUERY_COST.longText }),
    metadata: t.expose("metadata", { type: "JSON" }),
    status: t.expose("status", { type: DeliveryStatusEnum }),
    execution: t.field({
      type: ExecutionRef,
      nullable: true,
      description: "null until the delivery has executed (or when the task could not execute at all).",
      resolve: (d, _args, ctx) => (d.executedAt ? getExecution(ctx.deps, d.executionId).catch(() => null) : null),
    }),
    attempts: t.exposeInt("attempts"),
    lastError: t.exposeString("lastError", { nullable: true }),
    callbackStatus: t.exposeInt("callbackStatus", { nullable: true, description: "The HTTP status the callback last answered." }),
    createdAt: t.expose("createdAt", { type: "DateTime" }),
    updatedAt: t.expose("updatedAt", { type: "DateTime" }),
    executedAt: t.expose("executedAt", { type: "DateTime", nullable: true }),
    deliveredAt: t.expose("deliveredAt", { type: "DateTime", nullable: true }),
  }),
});

const EndpointWithSecretRef = builder.objectRef<EndpointWithSecret>("WebhookEndpointWithSecret").implement({
  description: "Returned once, on creation and rotation: the secret is never shown again.",
  fields: (t) => ({
    endpoint: t.field({ type: WebhookEndpointRef, resolve: (r) => r.endpoint }),
    signingSecret: t.exposeString("signingSecret", {
      description: 'HMAC-SHA256 key: X-Adaptagent-Signature is "v1=" + hex(HMAC(secret, "<X-Adaptagent-Timestamp>.<raw body>")).',
    }),
  }),
});

const CreateWebhookEndpointInput = builder.inputType("CreateWebhookEndpointInput", {
  fields: (t) => ({
    taskId: t.id({ required: true }),
    callbackUrl: t.string({ required: true, description: "https, a public host (no loopback, private or metadata addresses)." }),
  }),
});

builder.queryFields((t) => ({
  webhookEndpoint: t.field({
    type: WebhookEndpointRef,
    args: { id: t.arg.id({ required: true }) },
    resolve: (_root, { id }, ctx) => getWebhookEndpoint(ctx.deps, String(id)),
  }),
  webhookEndpoints: t.field({
    type: WebhookEndpointConnection,
    args: { taskId: t.arg.id(), ...forwardPageArgs(t.arg) },
    resolve: async (_root, { taskId, ...args }, ctx) =>
      toConnection(await listWebhookEndpoints(ctx.deps, { taskId: taskId ? String(taskId) : null }, pageArgs(args))),
  }),
  webhookDelivery: t.field({
    type: WebhookDeliveryRef,
    args: { id: t.arg.id({ required: true }) },
    resolve: (_root, { id }, ctx) => getWebhookDelivery(ctx.deps, String(id)),
  }),
}));

builder.mutationFields((t) => ({
  createWebhookEndpoint: t.field({
    type: EndpointWithSecretRef,
    args: { input: t.arg({ type: CreateWebhookEndpointInput, required: true }) },
    resolve: (_root, { input }, ctx) => createWebhookEndpoint(ctx.deps, { taskId: String(input.taskId), callbackUrl: input.callbackUrl }),
  }),
  disableWebhookEndpoint: t.field({
    type: WebhookEndpointRef,
    args: { id: t.arg.id({ required: true }) },
    resolve: (_root, { id }, ctx) => setWebhookEndpointEnabled(ctx.deps, String(id), false),
  }),
  enableWebhookEndpoint: t.field({
    type: WebhookEndpointRef,
    args: { id: t.arg.id({ required: true }) },
    resolve: (_root, { id }, ctx) => setWebhookEndpointEnabled(ctx.deps, String(id), true),
  }),
  deleteWebhookEndpoint: t.field({
    type: "ID",
    description: "Deletes the endpoint and its delivery records (Executions stay with the task); returns its id.",
    args: { id: t.arg.id({ required: true }) },
    resolve: async (_root, { id }, ctx) => (await deleteWebhookEndpoint(ctx.deps, String(id))).id,
  }),
  rotateWebhookSecret: t.field({
    type: EndpointWithSecretRef,
    description:
      "A new signing secret, shown once. The previous one still verifies inbound posts for graceSeconds " +
      "(default 86400: 24 hours, at most 604800) so a sender can switch without dropping posts; graceSeconds: 0 revokes it at once " +
      "(a leaked secret). Only the newest previous secret is kept: a second rotation ends the first one's grace.",
    args: {
      id: t.arg.id({ required: true }),
      graceSeconds: t.arg.int({
        required: false,
        description: "How long the previous secret keeps verifying, in seconds: 0 (revoke now) to 604800; default 86400.",
      }),
    },
    resolve: (_root, { id, graceSeconds }, ctx) => rotateWebhookSecret(ctx.deps, String(id), graceSeconds ?? undefined),
  }),
  redeliver: t.field({
    type: WebhookDeliveryRef,
    description: "Queues a delivery again (a dead one, or a delivered one to post its result once more); never executes twice.",
    args: { deliveryId: t.arg.id({ required: true }) },
    resolve: (_root, { deliveryId }, ctx) => redeliver(ctx.deps, String(deliveryId)),
  }),
}));
