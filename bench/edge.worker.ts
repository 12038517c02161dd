// Worker for bench/edge.mjs: the eval Worker's setup routes plus microbenchmarks of the production model
// code (functions/model). Clocks stand still inside a Worker until I/O happens, so in-Worker timings
// bracket a loop of many calls with a zero timer (recipes.md) and divide; bench/edge.mjs also times
// whole requests from the client, against a no-op request of the same Worker as the baseline.
import { depsFor } from "../functions/deps";
import { waysOf } from "../functions/model/adaptation";
import { getActiveModel } from "../functions/model/loader";
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

export default {
  async fetch(request: Request, env: Env, ctx: ExecutionContext): Promise<Response> {
    const url = new URL(request.url);
    if (url.pathname === "/noop") return new Response("ok");
    if (url.pathname === "/load") {
      const m = await model(env);
      return Response.json({ version: m.version, encoder: m.manifest.encoder.tag, dim: m.encoder.dim, features: m.features });
    }
    if (url.pathname === "/prepare") {
      // Support set -> stored features, as examples.embedding holds them in production.
      const body = (await request.json()) as { key: string; support: { text: string; label: string }[] };
      const m = await model(env);
      const { labels, ways } = waysOf({ labels: body.support.map((s) => s.label) } as Parameters<typeof waysOf>[0]);
      prepared.set(body.key, { features: await m.featurise(body.support.map((s) => s.text)), ways, count: labels.length });
      return Response.json({ ways: labels.length, support: body.support.length });
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
      return Response.json({
        tokens,
        baseline: await perCall(() => undefined, 200, 15),
        tokenizeAndTable: await perCall(() => m.encoder.encode([text]), 200, 15),
        withAdapter: await perCall(() => m.featurise([text]), 200, 15),
      });
    }
    return evalWorker.fetch(request, env, ctx);
  },
} satisfies ExportedHandler<Env>;
