// The registry is global (not per account), so these tests use unique version names and put back
// whichever version was active before, leaving other test files' state as they found it.
import { env } from "cloudflare:workers";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { AppError } from "../../functions/errors";
import {
  activateModelVersion, deactivateModelVersion, getActiveModelVersion, getModelVersion, listModelVersions, registerModelVersion,
} from "../../functions/modelVersions";
import { newAccount } from "../support/fixtures";
import { stageArtifact } from "../model/publish";

const fail = async (p: Promise<unknown>) => (await p.then(() => null, (e: unknown) => e)) as AppError;
const input = (version: string) => ({
  version, r2Prefix: `models/${version}/`, manifestSha256: "a".repeat(64), algorithm: "protonet", encoder: "minilm-static-256",
  metrics: { meta_test_accuracy: 0.81 },
});

/** A version whose files are in R2 (activation loads a version before it serves). */
const loadable = async (version: string) => {
  const staged = await stageArtifact(version);
  await staged.upload();
  return { ...input(version), r2Prefix: staged.r2Prefix, manifestSha256: staged.manifestSha256, encoder: staged.encoder };
};

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
    await registerModelVersion(admin.deps, admin.auth, await loadable(v1));
    await registerModelVersion(admin.deps, admin.auth, await loadable(v2));
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

  it("an account's own version: seen by that account and admins only, active beside the global one, serving only that account", async () => {
    const admin = await newAccount({ isAdmin: true });
    const [a, b] = [await newAccount(), await newAccount()];
    const unique = () => `t-${crypto.randomUUID().slice(0, 8)}`;
    const global = unique();
    await registerModelVersion(admin.deps, admin.auth, await loadable(global));
    await activateModelVersion(admin.deps, admin.auth, global);
    const [own, ownNext] = [unique(), unique()];
    const registered = await registerModelVersion(admin.deps, admin.auth, { ...(await loadable(own)), accountId: a.accountId });
    expect(registered).toMatchObject({ version: own, accountId: a.accountId, active: false });
    await registerModelVersion(admin.deps, admin.auth, { ...(await loadable(ownNext)), accountId: a.accountId });
    expect((await fail(registerModelVersion(admin.deps, admin.auth, { ...input(unique()), accountId: "no-such-account" }))).code).toBe("NOT_FOUND");

    // Visibility: the account and admins see it; another account does not, by name or in the list.
    expect((await getModelVersion(a.deps, own, a.auth)).version).toBe(own);
    expect((await getModelVersion(admin.deps, own, admin.auth)).version).toBe(own);
    expect((await fail(getModelVersion(b.deps, own, b.auth))).code).toBe("NOT_FOUND");
    const listed = async (who: typeof a) => {
      const out: string[] = [];
      let after: string | undefined;
      for (;;) {
        const page = await listModelVersions(who.deps, { first: 100, after }, who.auth);
        out.push(...page.nodes.map((v) => v.version));
        if (!page.hasNextPage) return out;
        after = page.endCursor!;
      }
    };
    expect(await listed(b)).not.toContain(own);
    expect(await listed(b)).toContain(global);
    expect(await listed(a)).toEqual(expect.arrayContaining([own, ownNext, global]));

    // Active side by side: the account is served by its own, every other account by the global one.
    await activateModelVersion(admin.deps, admin.auth, own);
    expect((await getModelVersion(admin.deps, global)).active).toBe(true);
    expect((await getActiveModelVersion(a.deps))?.version).toBe(own);
    expect((await getActiveModelVersion(b.deps))?.version).toBe(global);
    // A second version of the same account replaces the first one only.
    await activateModelVersion(admin.deps, admin.auth, ownNext);
    expect((await getModelVersion(admin.deps, own)).active).toBe(false);
    expect((await getModelVersion(admin.deps, global)).active).toBe(true);
    expect((await getActiveModelVersion(a.deps))?.version).toBe(ownNext);
    // A new global version does not touch the account's.
    const global2 = unique();
    await registerModelVersion(admin.deps, admin.auth, await loadable(global2));
    await activateModelVersion(admin.deps, admin.auth, global2);
    expect((await getActiveModelVersion(a.deps))?.version).toBe(ownNext);
    expect((await getActiveModelVersion(b.deps))?.version).toBe(global2);
    // Deactivated: the account is back on the global version; a global one cannot be deactivated.
    expect((await fail(deactivateModelVersion(a.deps, a.auth, ownNext))).code).toBe("FORBIDDEN");
    expect((await deactivateModelVersion(admin.deps, admin.auth, ownNext)).active).toBe(false);
    expect((await getActiveModelVersion(a.deps))?.version).toBe(global2);
    expect((await fail(deactivateModelVersion(admin.deps, admin.auth, global2))).code).toBe("CONFLICT");
    // The partial indexes hold: one active global version and at most one per account.
    const counts = await env.DB.prepare(
      "SELECT COUNT(*) AS n FROM model_versions WHERE active = 1 GROUP BY account_id HAVING COUNT(*) > 1",
    ).all();
    expect(counts.results).toEqual([]);
  });
});
