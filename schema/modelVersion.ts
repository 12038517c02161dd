// ModelVersion: the registry of meta-trained artifacts in R2. Global: every account may read it; only
// admin keys may activate a version (FORBIDDEN otherwise).
import {
  activateModelVersion, getActiveModelVersion, getModelVersion, listModelVersions, registerModelVersion,
} from "../functions/modelVersions";
import { builder } from "./builder";
import { withoutNulls } from "./input";
import { forwardPageArgs, pageArgs, toConnection } from "./page";
import { ModelVersionConnection, ModelVersionRef } from "./refs";

builder.objectType(ModelVersionRef, {
  description: "A published meta-trained model (docs/model-artifact.md). At most one is active.",
  fields: (t) => ({
    version: t.exposeID("version"),
    r2Prefix: t.exposeString("r2Prefix"),
    manifestSha256: t.exposeString("manifestSha256"),
    algorithm: t.exposeString("algorithm"),
    encoder: t.exposeString("encoder"),
    metrics: t.expose("metrics", { type: "JSON", description: "The evaluation that justified publishing it." }),
    active: t.exposeBoolean("active"),
    activatedAt: t.expose("activatedAt", { type: "DateTime", nullable: true }),
    createdAt: t.expose("createdAt", { type: "DateTime" }),
  }),
});

builder.queryFields((t) => ({
  modelVersion: t.field({
    type: ModelVersionRef,
    args: { version: t.arg.id({ required: true }) },
    resolve: (_root, { version }, ctx) => getModelVersion(ctx.deps, String(version)),
  }),
  modelVersions: t.field({
    type: ModelVersionConnection,
    args: forwardPageArgs(t.arg),
    resolve: async (_root, args, ctx) =>
      toConnection(await listModelVersions(ctx.deps, pageArgs(args)), (v) => v.version),
  }),
  activeModelVersion: t.field({
    type: ModelVersionRef,
    nullable: true,
    description: "null: no model is active; executions take the LLM baseline and adaptTask answers MODEL_UNAVAILABLE.",
    resolve: (_root, _args, ctx) => getActiveModelVersion(ctx.deps),
  }),
}));

const RegisterModelVersionInput = builder.inputType("RegisterModelVersionInput", {
  description: "A version already published to R2 under r2Prefix (docs/model-artifact.md).",
  fields: (t) => ({
    version: t.string({ required: true }),
    r2Prefix: t.string({ required: true }),
    manifestSha256: t.string({ required: true }),
    algorithm: t.string({ required: true }),
    encoder: t.string({ required: true }),
    metrics: t.field({ type: "JSON" }),
  }),
});

builder.mutationFields((t) => ({
  registerModelVersion: t.field({
    type: ModelVersionRef,
    description: "Admin only: registers a published version (inactive). CONFLICT if the version exists: versions are immutable.",
    args: { input: t.arg({ type: RegisterModelVersionInput, required: true }) },
    resolve: (_root, { input }, ctx) => {
      const { metrics, ...rest } = withoutNulls(input);
      return registerModelVersion(ctx.deps, ctx.auth, { ...rest, metrics: metrics as Record<string, unknown> | undefined });
    },
  }),
  activateModelVersion: t.field({
    type: ModelVersionRef,
    description: "Admin only (FORBIDDEN otherwise): makes this version the active one, deactivating the previous.",
    args: { version: t.arg.id({ required: true }) },
    resolve: (_root, { version }, ctx) => activateModelVersion(ctx.deps, ctx.auth, String(version)),
  }),
}));
