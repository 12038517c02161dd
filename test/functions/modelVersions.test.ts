// The registry is global (not per account), so these tests use unique version names and put back
// whichever version was active before, leaving other test files' state as they found it.
import { env } from "cloudflare:workers";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { AppError } from "../../functions/errors";
import {
  activateModelVersion, getActiveModelVersion, getModelVersion, listModelVersions, registerModelVersion,
} from "../../functions/modelVersions";
import { newAccount } from "../support/fixtures";

const fail = async (p: Promise<unknown>) => (await p.then(() => null, (e: unknown) => e)) as AppError;
const input = (version: string) => ({
  version, r2Prefix: `models/${version}/`, manifestSha256: "a".repeat(64), algorithm: "protonet", encoder: "minilm-static-256",
  metrics: { meta_test_accuracy: 0.81 },
});

let previouslyActive: string | null = null;
beforeAll(async () => {
  previouslyActive = (await env.DB.prepare("SELECT version FROM model_versions WHERE active = 1").first<{ version: string }>())?.version ?? null;
});
afterAll(async () => {
  await env.DB.batch([
    env.DB.prepare("UPDATE model_versions SET active = 0 WHERE active = 1 AND version IS NOT ?").bind(previouslyActive),
    env.DB.prepare("UPDATE model_versions SET active = 1 WHERE version = ?").bind(previouslyActive),
  ]);
});

describe("model versions", () => {
  it("admins register immutable versions; others may only read", async () => {
    const admin = await newAccount({ isAdmin: true });
    const user = await newAccount();
    const version = `t-${crypto.randomUUID().slice(0, 8)}`;
    const registered = await registerModelVersion(admin.deps, admin.auth, input(version));
    expect(registered).toMatchObject({ version, active: false, metrics: { meta_test_accuracy: 0.81 }, activatedAt: null });
    expect(await getModelVersion(user.deps, version)).toEqual(registered);
    expect((await fail(registerModelVersion(admin.deps, admin.auth, { ...input(version), algorithm: "maml" }))).code).toBe("CONFLICT");
    expect((await getModelVersion(user.deps, version)).algorithm).toBe("protonet");
    expect((await fail(registerModelVersion(user.deps, user.auth, input(`${version}-x`)))).code).toBe("FORBIDDEN");
    expect((await fail(registerModelVersion(admin.deps, admin.auth, { ...input("bad version!"), manifestSha256: "xyz" }))).issues.map((i) => i.path).sort()).toEqual([
      "manifestSha256",
      "version",
    ]);
    expect((await fail(getModelVersion(user.deps, "missing"))).code).toBe("NOT_FOUND");
  });

  it("activation switches the one active version in a single batch", async () => {
    const admin = await newAccount({ isAdmin: true });
    const [v1, v2] = [`t-${crypto.randomUUID().slice(0, 8)}`, `t-${crypto.randomUUID().slice(0, 8)}`];
    await registerModelVersion(admin.deps, admin.auth, input(v1));
    await registerModelVersion(admin.deps, admin.auth, input(v2));
    expect((await activateModelVersion(admin.deps, admin.auth, v1)).active).toBe(true);
    expect((await getActiveModelVersion(admin.deps))?.version).toBe(v1);
    const second = await activateModelVersion(admin.deps, admin.auth, v2);
    expect(second.active).toBe(true);
    expect(second.activatedAt).not.toBeNull();
    expect((await getModelVersion(admin.deps, v1)).active).toBe(false);
    expect((await getActiveModelVersion(admin.deps))?.version).toBe(v2);
    expect((await activateModelVersion(admin.deps, admin.auth, v2)).active).toBe(true); // idempotent
    const user = await newAccount();
    expect((await fail(activateModelVersion(user.deps, user.auth, v1))).code).toBe("FORBIDDEN");
    expect((await fail(activateModelVersion(admin.deps, admin.auth, "missing"))).code).toBe("NOT_FOUND");
  });

  it("lists versions by cursor", async () => {
    const admin = await newAccount({ isAdmin: true });
    const names = [0, 1, 2].map(() => `t-${crypto.randomUUID().slice(0, 8)}`);
    for (const v of names) await registerModelVersion(admin.deps, admin.auth, input(v));
    const all = [];
    let after: string | undefined;
    for (;;) {
      const page = await listModelVersions(admin.deps, { first: 2, after });
      all.push(...page.nodes.map((v) => v.version));
      if (!page.hasNextPage) break;
      after = page.endCursor!;
    }
    expect(all.filter((v) => names.includes(v))).toEqual(names);
  });
});
