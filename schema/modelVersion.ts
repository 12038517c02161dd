// ModelVersion: the registry of meta-trained artifacts in R2. A global version is visible to every
// account; an account's own version (its encoder re-tuned on its texts) only to that account and admin
// keys. Only admin keys may register, activate or deactivate a version (FORBIDDEN otherwise).
import {
  activateModelVersion, deactivateModelVersion, getActiveModelVersion, getModelVersion, listModelVersions, registerModelVersion,
} from "../functions/modelVersions";
import { runPromotionGate } from "../functions/promotionGate";
import type { GateReport } from "../functions/types";
import { builder } from "./builder";
import { forbidden } from "../functions/errors";
import { withoutNulls } from "./input";
import { forwardPageArgs, pageArgs, toConnection } from "./page";
import { ModelVersionConnection, ModelVersionRef } from "./refs";

const GateRef = builder.objectRef<GateReport>("ModelGate").implement({
  description:
    "The promotion gate's run on a candidate: candidate and active version on the same held-out work (the manifests' benchmark cells; each account's tasks, leave-out), and the decision.",
  fields: (t) => ({
    decision: t.exposeString("decision", { description: "promoted (activated by the gate) or rejected (the active version kept serving)" }),
    reason: t.exposeString("reason"),
    comparedWith: t.exposeString("comparedWith", { nullable: true, description: "The version active when the gate ran." }),
    marginPoints: t.exposeFloat("marginPoints", { description: "How many points worse than the active version one account may be." }),
    benchmarkCells: t.int({ nullable: true, resolve: (g) => g.benchmark?.cells ?? null }),
    benchmarkCandidateMean: t.float({ nullable: true, resolve: (g) => g.benchmark?.candidateMean ?? null }),
    benchmarkActiveMean: t.float({ nullable: true, resolve: (g) => g.benchmark?.activeMean ?? null }),
    accountsEvaluated: t.int({ resolve: (g) => g.accounts.count }),
    accountsCandidateMean: t.float({ nullable: true, resolve: (g) => g.accounts.candidateMean }),
    accountsActiveMean: t.float({ nullable: true, resolve: (g) => g.accounts.activeMean }),
    worstAccountDelta: t.float({ nullable: true, description: "Candidate minus active, points, for the account that lost most.", resolve: (g) => g.accounts.worstDelta }),
    accounts: t.field({
      type: "JSON",
      description: "Per-account figures {accountId, tasks, heldOut, candidate, active} (%): an admin key sees every account, any other only its own.",
      resolve: (g, _args, ctx) => g.accounts.figures.filter((f) => ctx.auth.isAdmin || f.accountId === ctx.auth.accountId),
    }),
    evaluatedAt: t.expose("evaluatedAt", { type: "DateTime" }),
  }),
});

builder.objectType(ModelVersionRef, {
  description:
    "A published meta-trained model (docs/model-artifact.md). Global, or one account's own (accountId): at most one global version is active, and at most one per account, which then serves that account's tasks instead of the global one.",
  fields: (t) => ({
    version: t.exposeID("version"),
    r2Prefix: t.exposeString("r2Prefix"),
    manifestSha256: t.exposeString("manifestSha256"),
    algorithm: t.exposeString("algorithm"),
    encoder: t.exposeString("encoder"),
    metrics: t.expose("metrics", { type: "JSON", description: "The evaluation that justified publishing it." }),
    active: t.exposeBoolean("active"),
    activatedAt: t.expose("activatedAt", { type: "DateTime", nullable: true }),
    activatedBy: t.exposeString("activatedBy", {
      nullable: true,
      description: "gate (the promotion gate promoted it) or admin (activated by hand, whatever the gate said); null: active since it was published",
    }),
    gate: t.field({ type: GateRef, nullable: true, description: "The promotion gate's last run on this version.", resolve: (v) => v.gate }),
    createdAt: t.expose("createdAt", { type: "DateTime" }),
    accountId: t.exposeID("accountId", { nullable: true, description: "null: global; else the one account whose tasks this version serves." }),
  }),
});

builder.queryFields((t) => ({
  modelVersion: t.field({
    type: ModelVersionRef,
    args: { version: t.arg.id({ required: true }) },
    resolve: (_root, { version }, ctx) => getModelVersion(ctx.deps, String(version), ctx.auth),
  }),
  modelVersions: t.field({
    type: ModelVersionConnection,
    description: "The global versions and the caller's account's own; every version for an admin key.",
    args: forwardPageArgs(t.arg),
    resolve: async (_root, args, ctx) =>
      toConnection(await listModelVersions(ctx.deps, pageArgs(args), ctx.auth), (v) => v.version),
  }),
  activeModelVersion: t.field({
    type: ModelVersionRef,
    nullable: true,
    description:
      "The version serving the caller's tasks: its account's own active version if it has one, else the global one. null: no model is active; executions take the LLM baseline and adaptTask answers MODEL_UNAVAILABLE.",
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
    accountId: t.id({ description: "An account's own version (serves only that account's tasks once active); absent: global. NOT_FOUND if no such account." }),
  }),
});

builder.mutationFields((t) => ({
  registerModelVersion: t.field({
    type: ModelVersionRef,
    description:
      "Admin only: registers a published version as a candidate and runs the promotion gate on it (it becomes active only if the gate promotes it; see `gate`). CONFLICT if the version exists: versions are immutable.",
    args: { input: t.arg({ type: RegisterModelVersionInput, required: true }) },
    resolve: async (_root, { input }, ctx) => {
      const { metrics, accountId, ...rest } = withoutNulls(input);
      const registered = await registerModelVersion(ctx.deps, ctx.auth, {
        ...rest, metrics: metrics as Record<string, unknown> | undefined, accountId: accountId === undefined ? undefined : String(accountId),
      });
      await runPromotionGate(ctx.deps, registered.version);
      return getModelVersion(ctx.deps, registered.version);
    },
  }),
  runPromotionGate: t.field({
    type: ModelVersionRef,
    description: "Admin only: runs the promotion gate on a version again (e.g. after new feedback), activating it if promoted.",
    args: { version: t.arg.id({ required: true }) },
    resolve: async (_root, { version }, ctx) => {
      if (!ctx.auth.isAdmin) throw forbidden("Only an admin API key may run the promotion gate.");
      await getModelVersion(ctx.deps, String(version));
      await runPromotionGate(ctx.deps, String(version));
      return getModelVersion(ctx.deps, String(version));
    },
  }),
  activateModelVersion: t.field({
    type: ModelVersionRef,
    description: "Admin only (FORBIDDEN otherwise): makes this version the active one of its scope (global, or its account's) by hand, deactivating the previous; recorded as activatedBy admin, beside any gate decision. A version that does not load (missing or damaged files) is refused with MODEL_UNAVAILABLE and nothing changes, as the promotion gate refuses one.",
    args: { version: t.arg.id({ required: true }) },
    resolve: (_root, { version }, ctx) => activateModelVersion(ctx.deps, ctx.auth, String(version)),
  }),
  deactivateModelVersion: t.field({
    type: ModelVersionRef,
    description: "Admin only: an account's own version stops serving it; the global version serves that account again. CONFLICT for a global version (activate another instead).",
    args: { version: t.arg.id({ required: true }) },
    resolve: (_root, { version }, ctx) => deactivateModelVersion(ctx.deps, ctx.auth, String(version)),
  }),
}));
