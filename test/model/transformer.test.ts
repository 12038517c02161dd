// The shipped default's int8 transformer as executions meet it: a large write is featurised within a
// bounded number of texts per request (the rest said pending, never silently missing), and an input
// longer than the encoder's token cap is truncated and said so.
import { env } from "cloudflare:workers";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { executeTask } from "../../functions/executions";
import { resetModelCacheForTests } from "../../functions/model/loader";
import { ENCODE_BUDGET } from "../../functions/model/runtime";
import { addExamples } from "../../functions/taskSetup";
import { newAccount, newTask } from "../support/fixtures";
import { SHIPPED } from "./artifact-server";
import { artifactManifest, deactivateAll, publishArtifact } from "./publish";

let version = "";
beforeAll(async () => {
  resetModelCacheForTests();
  version = await publishArtifact({ artifact: SHIPPED, version: `transformer-${crypto.randomUUID().slice(0, 8)}` });
});
afterAll(() => deactivateAll());

const featurised = async (taskId: string) =>
  (await env.DB.prepare("SELECT count(*) AS n FROM examples WHERE task_id = ? AND embedding_model_version = ?").bind(taskId, version).first<{ n: number }>())!.n;

describe("the transformer encoder in executions", () => {
  it("featurises a large write a bounded number of texts per request and says which are pending", async () => {
    const manifest = await artifactManifest(SHIPPED);
    expect(manifest.encoder.kind).toBe("transformer");
    const { deps } = await newAccount();
    const task = await newTask(deps);
    const extra = ENCODE_BUDGET + 20;
    const items = Array.from({ length: extra }, (_, i) => ({ input: `order ${i} arrived broken, i want my money back`, label: "negative" }));
    await addExamples(deps, task.id, items);
    const total = 4 + extra;
    // the write featurised at most one budget; the rest wait, and the first execution says how many
    const afterWrite = await featurised(task.id);
    expect(afterWrite).toBeLessThanOrEqual(4 + ENCODE_BUDGET);
    const first = await executeTask(deps, { taskId: task.id, input: "this is great" });
    const pendingAfterFirst = total - (await featurised(task.id));
    if (pendingAfterFirst > 0) expect(first.pathReason).toMatch(new RegExp(`${pendingAfterFirst} of the task's examples are still being featurised`));
    // each later request featurises another budget, until every example is usable
    let last = first;
    for (let i = 0; i < 4 && (await featurised(task.id)) < total; i++) last = await executeTask(deps, { taskId: task.id, input: "this is great" });
    last = await executeTask(deps, { taskId: task.id, input: "this is great" });
    expect(await featurised(task.id)).toBe(total);
    expect(last.pathReason).not.toMatch(/still being featurised/);
    expect(last.predictedLabel).toBe("positive");
  });

  it("truncates an input longer than the token cap and says so", async () => {
    const { deps } = await newAccount();
    const task = await newTask(deps);
    const long = await executeTask(deps, { taskId: task.id, input: "i really love this product ".repeat(40) });
    expect(long.pathReason).toMatch(/truncated to the encoder's token limit/);
    const short = await executeTask(deps, { taskId: task.id, input: "i really love this product" });
    expect(short.pathReason).not.toMatch(/truncated/);
  });
});
