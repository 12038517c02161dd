#!/usr/bin/env node
// Checks the workerd guard (guard.mjs) for real, in a few seconds: the guarded workerd starts and
// serves, and V8 inside it — asked through its own runtime functions, with --allow-natives-syntax added
// to the guard's flags — has no Maglev, no Sparkplug and no concurrent recompilation (background
// compiles are what livelocks). Run by npm test before the Worker tests.
import { chmodSync, mkdtempSync, rmSync, writeFileSync } from "node:fs";
import { createRequire } from "node:module";
import { tmpdir } from "node:os";
import { join } from "node:path";
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

const dir = mkdtempSync(join(tmpdir(), "workerd-guard-"));
try {
  const wrapper = guardWorkerd();
  if (!wrapper) throw new Error("the guard is off (ADAPTAGENT_WORKERD_GUARD=0 or Windows): nothing to check");
  const served = await probe('"served"'); // the guarded workerd itself starts and serves
  // The same mechanism with one flag more, so that V8 can be asked.
  const asking = join(dir, "workerd");
  writeFileSync(asking, `#!/bin/sh\n"${process.execPath}" "${join(import.meta.dirname, "v8flags.mjs")}" ${[...V8_FLAGS, "--allow-natives-syntax"].join(" ")} <&0 >"${dir}/config" || exit 1\nexec <"${dir}/config"\nexec "${require("workerd").default}" "$@"\n`);
  chmodSync(asking, 0o755);
  process.env.MINIFLARE_WORKERD_PATH = asking;
  const v8 = JSON.parse(await probe(
    'env.EVAL.eval("JSON.stringify({ concurrentRecompilation: %IsConcurrentRecompilationSupported(), maglev: %IsMaglevEnabled(), sparkplug: %IsSparkplugEnabled() })")',
  ));
  if (served !== "served" || Object.values(v8).some((on) => on !== false)) {
    throw new Error(`guarded workerd: served=${served}, V8 ${JSON.stringify(v8)} (want every one false)`);
  }
  console.error(`[workerd-guard] ok: no Maglev, no Sparkplug, no concurrent recompilation (${wrapper}: ${V8_FLAGS.join(" ")})`);
} finally {
  rmSync(dir, { recursive: true, force: true });
}
