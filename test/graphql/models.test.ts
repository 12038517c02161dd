import { env } from "cloudflare:workers";
import { afterAll, describe, expect, it } from "vitest";
import { newAccount, newTask } from "../support/fixtures";
import { stageArtifact } from "../model/publish";
import { codes, gql, gqlOk } from "./gql";

const REGISTER = `mutation($input: RegisterModelVersionInput!) { registerModelVersion(input: $input) { version active metrics } }`;
const ACTIVATE = `mutation($v: ID!) { activateModelVersion(version: $v) { version active activatedAt } }`;
const suffix = () => crypto.randomUUID().slice(0, 8);
const versionInput = (version: string) => ({
  version, r2Prefix: `models/${version}/`, manifestSha256: "a".repeat(64), algorithm: "proto_maml", encoder: "static-test",
  metrics: { meta_test_accuracy: 0.9 },
});

// Activation is global: leave no (artifact-less) version active for later tests.
const deactivateTestVersions = () => env.DB.prepare("UPDATE model_versions SET active = 0 WHERE version LIKE 'gqltest-%'").run();
afterAll(deactivateTestVersions);

describe("GraphQL adaptations and model versions", () => {
  it("answers MODEL_UNAVAILABLE for adaptTask while no model version is active", async () => {
    await env.DB.prepare("UPDATE model_versions SET active = 0 WHERE active = 1").run();
    const a = await newAccount();
    const task = await newTask(a.deps);
    const { activeModelVersion } = await gqlOk<{ activeModelVersion: null }>(a, `{ activeModelVersion { version } }`);
    expect(activeModelVersion).toBeNull();
    const result = await gql(a, `mutation($id: ID!) { adaptTask(taskId: $id) { id } }`, { id: task.id });
    expect(codes(result)).toEqual(["MODEL_UNAVAILABLE"]);
    expect(result.data).toBeNull();
  });

  it("lets only admins register and activate versions; one is active at a time", async () => {
    const admin = await newAccount({ isAdmin: true });
    const user = await newAccount();
    const v1 = `gqltest-${suffix()}-v1`;
    const v2 = `gqltest-${suffix()}-v2`;

    // Registered with the test artifact's manifest, whose files are put into R2 only later.
    const [staged1, staged2] = [await stageArtifact(v1), await stageArtifact(v2)];
    const input1 = { ...versionInput(v1), r2Prefix: staged1.r2Prefix, manifestSha256: staged1.manifestSha256, encoder: staged1.encoder };
    const input2 = { ...versionInput(v2), r2Prefix: staged2.r2Prefix, manifestSha256: staged2.manifestSha256, encoder: staged2.encoder };
    expect(codes(await gql(user, REGISTER, { input: input1 }))).toEqual(["FORBIDDEN"]);
    const registered = await gqlOk<{ registerModelVersion: { version: string; active: boolean; metrics: unknown } }>(admin, REGISTER, { input: input1 });
    expect(registered.registerModelVersion).toEqual({ version: v1, active: false, metrics: { meta_test_accuracy: 0.9 } });
    // No version is active, but nothing is in R2 under it: the promotion gate rejects it rather than serve it.
    const gated = await gqlOk<{ modelVersion: { gate: { decision: string; reason: string } } }>(admin, `query($v: ID!) { modelVersion(version: $v) { gate { decision reason } } }`, { v: v1 });
    expect(gated.modelVersion.gate).toMatchObject({ decision: "rejected", reason: expect.stringMatching(/could not be loaded/) });
    await gqlOk(admin, REGISTER, { input: input2 });
    expect(codes(await gql(admin, REGISTER, { input: input1 }))).toEqual(["CONFLICT"]);
    const badSha = await gql(admin, REGISTER, { input: { ...versionInput(`gqltest-${suffix()}`), manifestSha256: "nope" } });
    expect(codes(badSha)).toEqual(["VALIDATION_FAILED"]);

    expect(codes(await gql(user, ACTIVATE, { v: v1 }))).toEqual(["FORBIDDEN"]);
    expect(codes(await gql(admin, ACTIVATE, { v: "gqltest-missing" }))).toEqual(["NOT_FOUND"]);
    // Nor by hand while it does not load; once its files are in R2 it does.
    expect(codes(await gql(admin, ACTIVATE, { v: v1 }))).toEqual(["MODEL_UNAVAILABLE"]);
    await staged1.upload();
    await staged2.upload();
    const first = await gqlOk<{ activateModelVersion: { active: boolean; activatedAt: string } }>(admin, ACTIVATE, { v: v1 });
    expect(first.activateModelVersion.active).toBe(true);
    await gqlOk(admin, ACTIVATE, { v: v2 });

    // Every account reads the registry.
    const read = await gqlOk<{ activeModelVersion: { version: string }; modelVersion: { active: boolean }; modelVersions: { edges: { node: { version: string; active: boolean } }[] } }>(
      user,
      `query($v: ID!) { activeModelVersion { version } modelVersion(version: $v) { active } modelVersions(first: 100) { edges { node { version active } } } }`,
      { v: v1 },
    );
    expect(read.activeModelVersion.version).toBe(v2);
    expect(read.modelVersion.active).toBe(false);
    const mine = read.modelVersions.edges.map((e) => e.node).filter((n) => n.version === v1 || n.version === v2);
    expect(mine).toEqual([{ version: v1, active: false }, { version: v2, active: true }]);
    expect(read.modelVersions.edges.filter((e) => e.node.active)).toHaveLength(1);
    await deactivateTestVersions();
  });

  it("shows a task's adaptations (latest, list, by id) from D1, batched across tasks", async () => {
    const admin = await newAccount({ isAdmin: true });
    const version = `gqltest-${suffix()}`;
    await gqlOk(admin, REGISTER, { input: versionInput(version) });
    const a = await newAccount();
    const task = await newTask(a.deps);
    const other = await newTask(a.deps);
    // Rows as the adaptation runtime writes them: the only way to have one before a model exists.
    const insert = env.DB.prepare(
      `INSERT INTO adaptations (id, account_id, task_id, model_version, algorithm, steps, support_size, labels_json,
         support_loss_before, support_loss_after, support_acc_before, support_acc_after, duration_ms, support_fingerprint, created_at)
       VALUES (?, ?, ?, ?, 'proto_maml', 5, 4, '["positive","negative"]', 0.69, 0.1, 0.5, 1.0, 3.5, ?, ?)`,
    );
    await env.DB.batch([
      insert.bind("ad-old-" + version, a.accountId, task.id, version, "fp-old", "2026-01-01T00:00:00.000Z"),
      insert.bind("ad-new-" + version, a.accountId, task.id, version, "fp-new", "2026-01-02T00:00:00.000Z"),
    ]);

    const { tasks } = await gqlOk<{ tasks: { edges: { node: { id: string; latestAdaptation: { id: string; labels: string[]; supportAccAfter: number; model: { version: string }; task: { id: string } } | null } }[] } }>(
      a,
      `{ tasks { edges { node { id latestAdaptation { id labels supportAccAfter model { version } task { id } } } } } }`,
    );
    const byTask = new Map(tasks.edges.map((e) => [e.node.id, e.node.latestAdaptation]));
    expect(byTask.get(task.id)).toEqual({
      id: "ad-new-" + version, labels: ["positive", "negative"], supportAccAfter: 1, model: { version }, task: { id: task.id },
    });
    expect(byTask.get(other.id)).toBeNull();

    const list = await gqlOk<{ adaptations: { edges: { node: { id: string } }[] }; adaptation: { supportFingerprint: string } }>(
      a,
      `query($t: ID!, $id: ID!) { adaptations(taskId: $t) { edges { node { id } } } adaptation(id: $id) { supportFingerprint } }`,
      { t: task.id, id: "ad-old-" + version },
    );
    expect(list.adaptations.edges.map((e) => e.node.id)).toEqual(["ad-old-" + version, "ad-new-" + version]);
    expect(list.adaptation.supportFingerprint).toBe("fp-old");

    const b = await newAccount();
    expect(codes(await gql(b, `query($id: ID!) { adaptation(id: $id) { id } }`, { id: "ad-old-" + version }))).toEqual(["NOT_FOUND"]);
    expect(codes(await gql(b, `query($t: ID!) { adaptations(taskId: $t) { edges { cursor } } }`, { t: task.id }))).toEqual(["NOT_FOUND"]);
  });

  it("an account's own version: registered with accountId by an admin, visible to that account only", async () => {
    const admin = await newAccount({ isAdmin: true });
    const [owner, other] = [await newAccount(), await newAccount()];
    const v = `gqltest-${suffix()}-acct`;
    const REGISTER_OWN = `mutation($input: RegisterModelVersionInput!) { registerModelVersion(input: $input) { version accountId } }`;
    const made = await gqlOk<{ registerModelVersion: { version: string; accountId: string } }>(admin, REGISTER_OWN, {
      input: { ...versionInput(v), accountId: owner.accountId },
    });
    expect(made.registerModelVersion).toEqual({ version: v, accountId: owner.accountId });
    expect(codes(await gql(admin, REGISTER_OWN, { input: { ...versionInput(`${v}-x`), accountId: "missing" } }))).toEqual(["NOT_FOUND"]);
    const GET = `query($v: ID!) { modelVersion(version: $v) { version accountId } }`;
    expect((await gqlOk<{ modelVersion: { accountId: string } }>(owner, GET, { v })).modelVersion.accountId).toBe(owner.accountId);
    expect(codes(await gql(other, GET, { v }))).toEqual(["NOT_FOUND"]);
    const LIST = `{ modelVersions(first: 100) { edges { node { version } } } }`;
    const names = async (who: typeof owner) =>
      (await gqlOk<{ modelVersions: { edges: { node: { version: string } }[] } }>(who, LIST)).modelVersions.edges.map((e) => e.node.version);
    expect(await names(other)).not.toContain(v);
    const DEACTIVATE = `mutation($v: ID!) { deactivateModelVersion(version: $v) { version active } }`;
    expect(codes(await gql(owner, DEACTIVATE, { v }))).toEqual(["FORBIDDEN"]);
  });
});

