// Worker for bench/edge.mjs: the eval Worker's setup routes plus microbenchmarks of the production model
// code (functions/model, functions/predictions.ts). Clocks stand still inside a Worker until I/O happens, so in-Worker timings
// bracket a loop of many calls with a zero timer (recipes.md) and divide; bench/edge.mjs also times
// whole requests from the client, against a no-op request of the same Worker as the baseline.
import { depsFor } from "../functions/deps";
import { waysOf } from "../functions/model/adaptation";
import { adaptedTask, getActiveModel, loadSupport } from "../functions/predictions";
import { wasmMemoryBytes, ensureBackend } from "../functions/model/ort";
import { createAccountWithKey } from "../functions/accounts";
import { createAgent } from "../functions/agents";
import { executeTask } from "../functions/executions";
import { softmax } from "../functions/model/runtime";
import { nearest } from "../functions/model/support";
import { createTask } from "../functions/taskSetup";
import evalWorker from "../scripts/eval.worker";

const tick = () => new Promise<void>((resolve) => setTimeout(resolve, 0));
const prepared = new Map<string, { features: Float32Array; ways: Int32Array; count: number }>();

async function model(env: Env) {
  const m = await getActiveModel(depsFor(env, "bench"));
  if (!m) throw new Error("no active model version");
  return m;
}

/** ms per call of `fn`, measured over `calls` calls between two zero timers, `batches` times. */
async function perCall(fn: () => unknown | Promise<unknown>, calls: number, batches: number): Promise<number[]> {
  const out: number[] = [];
  for (let b = 0; b < batches; b++) {
    await tick();
    const t0 = performance.now();
    for (let i = 0; i < calls; i++) await fn();
    await tick();
    out.push((performance.now() - t0) / calls);
  }
  return out;
}

const parts = new Map<string, { features: Float32Array; labels: string[] }>();
const concat = (a: Float32Array, b: Float32Array) => {
  const out = new Float32Array(a.length + b.length);
  out.set(a, 0);
  out.set(b, a.length);
  return out;
};

export default {
  async fetch(request: Request, env: Env): Promise<Response> {
    const url = new URL(request.url);
    if (url.pathname === "/noop") return new Response("ok");
    // ONNX Runtime's WebAssembly memory (a high-water mark: it never shrinks), the bulk of what the
    // isolate holds beside the encoder's tables
    if (url.pathname === "/wasm") return Response.json({ wasm_memory_bytes: wasmMemoryBytes() });
    if (url.pathname === "/ort-init") {
      await ensureBackend(); // ORT's fixed cost, before any artifact file is read
      return new Response("ok");
    }
    if (url.pathname === "/load") {
      const m = await model(env);
      return Response.json({ version: m.version, encoder: m.manifest.encoder.tag, dim: m.encoder.dim, features: m.features });
    }
    if (url.pathname === "/prepare") {
      // Support set -> stored features, as examples.embedding holds them in production.
      // Sent in parts (`first`, then more): the transformer featurises ~50 texts a second, and one request of
      // thousands would run for minutes. The label order is the whole set's, as waysOf gives it.
      const body = (await request.json()) as { key: string; support: { text: string; label: string }[]; first?: boolean; labels: string[] };
      const m = await model(env);
      const fresh = await m.featurise(body.support.map((s) => s.text));
      const before = body.first ? undefined : parts.get(body.key);
      const all = before ? { features: concat(before.features, fresh), labels: [...before.labels, ...body.labels] } : { features: fresh, labels: body.labels };
      parts.set(body.key, all);
      const { labels, ways } = waysOf({ labels: all.labels } as Parameters<typeof waysOf>[0]);
      prepared.set(body.key, { features: all.features, ways, count: labels.length });
      return Response.json({ ways: labels.length, support: all.labels.length });
    }
    if (url.pathname === "/adapt") {
      const p = prepared.get(url.searchParams.get("key") ?? "");
      if (!p) return new Response("unknown key", { status: 404 });
      const r = await (await model(env)).adapt(p.features, p.ways, p.count);
      return Response.json({ accAfter: r.accAfter });
    }
    if (url.pathname === "/adapt-loop") {
      const p = prepared.get(url.searchParams.get("key") ?? "");
      if (!p) return new Response("unknown key", { status: 404 });
      const m = await model(env);
      return Response.json(await perCall(() => m.adapt(p.features, p.ways, p.count), 10, 9));
    }
    if (url.pathname === "/encode-loop") {
      const text = url.searchParams.get("text") ?? "";
      const m = await model(env);
      const tokens = m.encoder.tokenize(text).length;
      // The transformer takes 10-50 ms an encode: fewer calls per sample than the static table's microseconds
      const [calls, batches] = m.manifest.encoder.kind === "transformer" ? [5, 12] : [200, 15];
      return Response.json({
        tokens,
        baseline: await perCall(() => undefined, calls, batches),
        tokenizeAndTable: await perCall(() => m.encoder.encode([text]), calls, batches),
        withAdapter: await perCall(() => m.featurise([text]), calls, batches),
      });
    }
    if (url.pathname === "/profile") return profile(env, (await request.json()) as ProfileBody);
    return evalWorker.fetch(request, env);
  },
} satisfies ExportedHandler<Env>;

interface ProfileBody {
  support: { text: string; label: string }[];
  inputs: string[];
}

/**
 * Where an execution's time goes, inside the Worker: executeTask end to end (model path, no LLM), then
 * predictForTask's steps one by one. Each step is bracketed by zero timers so the clock can move.
 */
async function profile(env: Env, body: ProfileBody): Promise<Response> {
  const { accountId } = await createAccountWithKey(env.DB, "bench");
  const deps = depsFor(env, accountId);
  const agent = await createAgent(deps, { name: "bench" });
  const labels = [...new Set(body.support.map((s) => s.label))];
  const task = await createTask(deps, {
    agentId: agent.id, name: "bench", kind: "classification", labels, confidenceThreshold: 0,
    examples: body.support.map((s) => ({ input: s.text, label: s.label })),
  });
  await executeTask(deps, { taskId: task.id, input: body.inputs[0]! }); // load + adapt
  const steps: Record<string, number[]> = { executeTask: [], activeVersion: [], loadSupport: [], adaptedTask: [], featurise: [], head: [], nearest: [] };
  const time = async <T>(name: string, fn: () => Promise<T> | T): Promise<T> => {
    await tick();
    const t0 = performance.now();
    const out = await fn();
    await tick();
    steps[name]!.push(performance.now() - t0);
    return out;
  };
  const baseline: number[] = [];
  for (const input of body.inputs) {
    await tick();
    const t0 = performance.now();
    await tick();
    baseline.push(performance.now() - t0);
    await time("executeTask", () => executeTask(deps, { taskId: task.id, input }));
    const m = (await time("activeVersion", () => getActiveModel(deps)))!;
    const support = await time("loadSupport", () => loadSupport(deps, m, task.id));
    const adapted = (await time("adaptedTask", () => adaptedTask(deps, m, task.id, support)))!;
    const q = await time("featurise", () => m.featurise([input]));
    await time("head", async () => softmax(await m.logits(q, 1, adapted.head)));
    await time("nearest", () => nearest(support, m.features, q, 5));
  }
  const median = (xs: number[]) => [...xs].sort((a, b) => a - b)[xs.length >> 1]!;
  return Response.json({
    iterations: body.inputs.length,
    support: body.support.length,
    ways: labels.length,
    zero_timer_pair_ms: median(baseline),
    median_ms: Object.fromEntries(Object.entries(steps).map(([k, v]) => [k, median(v)])),
    samples_ms: steps,
  });
}
