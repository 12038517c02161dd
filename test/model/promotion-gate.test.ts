// The promotion gate with real models (the test artifact under several version names, loaded in
// onnxruntime-web from the local R2), real D1 and real accounts' tasks; the decision rule on its own.
import { env } from "cloudflare:workers";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { activateModelVersion, getModelVersion, registerModelVersion } from "../../functions/modelVersions";
import { resetModelCacheForTests } from "../../functions/model/loader";
import { decide, gatePendingVersions, MARGIN_POINTS, runPromotionGate } from "../../functions/promotionGate";
import type { GateAccountFigures } from "../../functions/types";
import { call, newAccount, newTask } from "../support/fixtures";
import { deactivateAll, publishArtifact } from "./publish";

const cells = (pct: number) => ({ banking77: { "5": pct, "10": pct + 4 }, clinc150: { "5": pct + 6, "10": pct + 8 } });
const withBenchmark = (pct: number | null) => (m: { metrics: Record<string, unknown> }) => {
  m.metrics = pct === null ? {} : { ...m.metrics, cross_dataset: { accuracy_pct: cells(pct) } };
};
const name = (what: string) => `gate-${what}-${crypto.randomUUID().slice(0, 8)}`;

const figures = (deltas: number[]): GateAccountFigures[] =>
  deltas.map((d, i) => ({ accountId: `acc-${i}`, tasks: 1, heldOut: 4, candidate: 80 + d, active: 80 }));

describe("the decision rule", () => {
  it("promotes only what is not worse on the means and loses at most the margin on any account", () => {
    const same = { cells: 4, candidateMean: 80, activeMean: 80 };
    expect(decide(same, figures([0, 1, -1])).decision).toBe("promoted");
    expect(decide(null, figures([3, -MARGIN_POINTS])).decision).toBe("promoted"); // exactly the margin
    const worseAccount = decide(same, figures([5, 4, -(MARGIN_POINTS + 0.5)]));
    expect(worseAccount).toMatchObject({ decision: "rejected", worstDelta: -(MARGIN_POINTS + 0.5) });
    expect(worseAccount.reason).toMatch(/acc-2 loses 2.5 points .*2-point margin/);
    expect(decide(same, figures([-1, -1, 1])).reason).toMatch(/worse on the mean over 3 accounts/);
    expect(decide({ cells: 4, candidateMean: 79.9, activeMean: 80 }, figures([5])).reason).toMatch(/worse on the benchmark mean/);
    expect(decide({ cells: 4, candidateMean: 81, activeMean: 80 }, []).decision).toBe("promoted");
    expect(decide(null, [])).toMatchObject({ decision: "rejected", reason: expect.stringMatching(/no held-out evidence/) });
  });
});

describe("the gate on real models", () => {
  let active = "";
  let tenantA: Awaited<ReturnType<typeof newAccount>>;
  let tenantB: Awaited<ReturnType<typeof newAccount>>;
  beforeAll(async () => {
    resetModelCacheForTests();
    active = await publishArtifact({ version: name("active"), manifest: withBenchmark(75) });
    tenantA = await newAccount();
    tenantB = await newAccount();
    // Tasks with a label that has 2+ examples: the latest of each such label is held out.
    await newTask(tenantA.deps, {
      examples: [
        { input: "I love this product", label: "positive" }, { input: "Fantastic support, thank you", label: "positive" },
        { input: "Great value, works perfectly", label: "positive" }, { input: "This is broken again", label: "negative" },
        { input: "Worst purchase ever", label: "negative" }, { input: "It stopped working after a day", label: "negative" },
      ],
    });
    await newTask(tenantB.deps);
  });
  afterAll(() => deactivateAll());

  it("promotes a candidate that is not worse, in one batch with its record, and says on what", async () => {
    const candidate = await publishArtifact({ version: name("same"), activate: false, manifest: withBenchmark(75.5) });
    const report = await runPromotionGate(tenantA.deps, candidate);
    expect(report).toMatchObject({ decision: "promoted", comparedWith: active, candidate, benchmark: { cells: 4, candidateMean: 80, activeMean: 79.5 } });
    // The same weights under two names: every account's held-out accuracy is the same for both.
    const mine = report.accounts.figures.find((f) => f.accountId === tenantA.accountId)!;
    expect(mine).toMatchObject({ tasks: 1, heldOut: 2 });
    expect(report.accounts.figures.find((f) => f.accountId === tenantB.accountId)).toMatchObject({ heldOut: 2 });
    expect(report.accounts.figures.every((f) => f.candidate === f.active)).toBe(true);
    expect(report.reason).toMatch(/not worse on the benchmark mean and \d+ accounts' held-out examples/);
    const stored = await getModelVersion(tenantA.deps, candidate);
    expect(stored).toMatchObject({ active: true, activatedBy: "gate", gate: { decision: "promoted", comparedWith: active } });
    expect((await getModelVersion(tenantA.deps, active)).active).toBe(false);
    active = candidate;
  });

  it("rejects a worse candidate, keeps the active one serving, and an admin's activation by hand is recorded beside it", async () => {
    const worse = await publishArtifact({ version: name("worse"), activate: false, manifest: withBenchmark(70) });
    const report = await runPromotionGate(tenantA.deps, worse);
    expect(report).toMatchObject({ decision: "rejected", comparedWith: active });
    expect(report.reason).toMatch(/worse on the benchmark mean \(74.5 vs 80/);
    expect(await getModelVersion(tenantA.deps, worse)).toMatchObject({ active: false, activatedBy: null, gate: { decision: "rejected" } });
    expect((await getModelVersion(tenantA.deps, active)).active).toBe(true);

    const admin = await newAccount({ isAdmin: true });
    const forced = await activateModelVersion(admin.deps, admin.auth, worse);
    expect(forced).toMatchObject({ active: true, activatedBy: "admin", gate: { decision: "rejected" } });
    await activateModelVersion(admin.deps, admin.auth, active);
  });

  it("the cron gates versions published without the GraphQL registration, once each", async () => {
    const plain = await publishArtifact({ version: name("cron"), activate: false, manifest: withBenchmark(80) });
    const reports = await gatePendingVersions(tenantA.deps);
    expect(reports.map((r) => [r.candidate, r.decision])).toContainEqual([plain, "promoted"]);
    expect((await getModelVersion(tenantA.deps, plain)).activatedBy).toBe("gate");
    expect(await gatePendingVersions(tenantA.deps)).toEqual([]); // decided once
    active = plain;
  });

  it("GraphQL: registering runs the gate; a tenant sees only its own account's figures, an admin every account", async () => {
    const admin = await newAccount({ isAdmin: true });
    const candidate = await publishArtifact({ version: name("gql"), activate: false, manifest: withBenchmark(80) });
    // publishArtifact registered it already: re-registering is CONFLICT, so run the gate as the mutation would
    const ran = await call("/graphql", {
      headers: admin.headers,
      body: { query: `mutation($v: ID!) { runPromotionGate(version: $v) { active activatedBy gate { decision comparedWith accountsEvaluated accounts } } }`, variables: { v: candidate } },
    });
    const gate = (ran.json as { data: { runPromotionGate: { active: boolean; activatedBy: string; gate: { decision: string; accountsEvaluated: number; accounts: GateAccountFigures[] } } } }).data.runPromotionGate;
    expect(gate).toMatchObject({ active: true, activatedBy: "gate", gate: { decision: "promoted" } });
    expect(gate.gate.accounts.length).toBe(gate.gate.accountsEvaluated);
    expect(gate.gate.accountsEvaluated).toBeGreaterThanOrEqual(2);

    const seen = await call("/graphql", {
      headers: tenantB.headers,
      body: { query: `query($v: ID!) { modelVersion(version: $v) { gate { accountsEvaluated accounts } } }`, variables: { v: candidate } },
    });
    const own = (seen.json as { data: { modelVersion: { gate: { accounts: GateAccountFigures[] } } } }).data.modelVersion.gate.accounts;
    expect(own.map((f) => f.accountId)).toEqual([tenantB.accountId]);

    const refused = await call("/graphql", {
      headers: tenantB.headers,
      body: { query: `mutation($v: ID!) { runPromotionGate(version: $v) { version } }`, variables: { v: candidate } },
    });
    expect((refused.json as { errors: { extensions: { code: string } }[] }).errors[0]!.extensions.code).toBe("FORBIDDEN");

    const registered = await call("/graphql", {
      headers: admin.headers,
      body: {
        query: `mutation($i: RegisterModelVersionInput!) { registerModelVersion(input: $i) { version active gate { decision reason } } }`,
        variables: { i: { version: name("unpublished"), r2Prefix: "models/nowhere/", manifestSha256: "0".repeat(64), algorithm: "x", encoder: "y" } },
      },
    });
    // Nothing in R2 under it: the gate cannot load it; the registration answers with the rejection, and
    // the version that was active still is (the only one).
    const got = (registered.json as { data: { registerModelVersion: { active: boolean; gate: { decision: string; reason: string } } } }).data.registerModelVersion;
    expect(got).toMatchObject({ active: false, gate: { decision: "rejected", reason: expect.stringMatching(/could not be loaded/) } });
    // Which file is missing (its R2 key) is for the operator's logs, not in the reason anyone can read.
    expect(got.gate.reason).not.toMatch(/models\/nowhere|R2|manifest\.json/);
    const live = await env.DB.prepare("SELECT version FROM model_versions WHERE active = 1").all<{ version: string }>();
    expect(live.results.map((r) => r.version)).toEqual([candidate]);
    active = candidate;
  });

  it("an admin cannot activate by hand a version that does not load: MODEL_UNAVAILABLE, nothing changed", async () => {
    const admin = await newAccount({ isAdmin: true });
    const broken = name("broken");
    await registerModelVersion(admin.deps, admin.auth, { version: broken, r2Prefix: "models/nowhere/", manifestSha256: "0".repeat(64), algorithm: "x", encoder: "y" });
    const refused = await call("/graphql", {
      headers: admin.headers,
      body: { query: `mutation($v: ID!) { activateModelVersion(version: $v) { version active } }`, variables: { v: broken } },
    });
    const errors = (refused.json as { errors: { message: string; extensions: { code: string } }[] }).errors;
    expect(errors.map((e) => e.extensions.code)).toEqual(["MODEL_UNAVAILABLE"]);
    expect(errors[0]!.message).toMatch(new RegExp(`ModelVersion ${broken} does not load.*not activated`));
    expect(errors[0]!.message).not.toContain("models/nowhere"); // R2 keys go to the logs only
    expect(await getModelVersion(admin.deps, broken)).toMatchObject({ active: false, activatedBy: null });
    const live = await env.DB.prepare("SELECT version FROM model_versions WHERE active = 1 AND account_id IS NULL").all<{ version: string }>();
    expect(live.results.map((r) => r.version)).toEqual([active]);
    // A version that loads is still activated by hand.
    const loadable = await publishArtifact({ version: name("by-hand"), activate: false, manifest: withBenchmark(80) });
    expect(await activateModelVersion(admin.deps, admin.auth, loadable)).toMatchObject({ active: true, activatedBy: "admin" });
    active = loadable;
  });
});
