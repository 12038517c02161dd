#!/usr/bin/env node
// Checks the workerd guard (guard.mjs) for real, in a few seconds: the wrapper Miniflare runs (the one
// MINIFLARE_WORKERD_PATH names, as vitest-pool-workers and wrangler run it) starts workerd, and V8 inside
// it — asked through its own runtime functions, --allow-natives-syntax added through
// ADAPTAGENT_WORKERD_EXTRA_V8_FLAGS — has no Maglev, no Sparkplug and no concurrent recompilation
// (background compiles are what livelocks). Run by npm test before the Worker tests.
import { createRequire } from "node:module";
import { guardWorkerd, V8_FLAGS } from "./guard.mjs";

const require = createRequire(import.meta.url);
const { Miniflare } = require("miniflare");
const probe = async (expression) => {
  const mf = new Miniflare({
    modules: true,
    unsafeEvalBinding: "EVAL", // V8's %-functions can only be reached through code compiled at run time
    script: `export default { fetch: (_, env) => new Response(String(${expression})) }`,
  });
  try {
    return await (await mf.dispatchFetch("http://check/")).text();
  } finally {
    await mf.dispose();
  }
};

try {
  const wrapper = guardWorkerd();
  if (!wrapper) throw new Error("the guard is off (ADAPTAGENT_WORKERD_GUARD=0 or Windows): nothing to check");
  // The very wrapper the tests, npm start, eval and bench use, with one flag more so that V8 can be asked.
  process.env.ADAPTAGENT_WORKERD_EXTRA_V8_FLAGS = "--allow-natives-syntax";
  const v8 = JSON.parse(await probe(
    'env.EVAL.eval("JSON.stringify({ concurrentRecompilation: %IsConcurrentRecompilationSupported(), maglev: %IsMaglevEnabled(), sparkplug: %IsSparkplugEnabled() })")',
  ));
  if (Object.values(v8).some((on) => on !== false)) throw new Error(`guarded workerd: V8 ${JSON.stringify(v8)} (want every one false)`);
  console.error(`[workerd-guard] ok: no Maglev, no Sparkplug, no concurrent recompilation (${wrapper}: ${V8_FLAGS.join(" ")})`);
} finally {
  delete process.env.ADAPTAGENT_WORKERD_EXTRA_V8_FLAGS;
}
