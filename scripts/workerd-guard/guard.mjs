// Runs the local workerd (tests, `npm start`, `npm run eval`, bench/) with V8 compiling JavaScript on its
// main thread only.
//
// Why: the local workerd (1.20260426, the newest that runs on Node 20) can livelock. A V8 background
// thread compiling code needs a GC for an allocation (Factory::CodeBuilder and friends) and parks in
// CollectionBarrier::AwaitCollectionBackground, waiting for the main thread to collect; the main thread
// sits in IoContext::runImpl's message-loop pump running cppgc IncrementalSweepTasks and never does. The
// isolate spins at 100% CPU forever and no test timeout can fire. Seen with gdb with one V8 background
// worker (2-CPU hosts), with three, and with --single-threaded alone, which stops concurrent TurboFan and
// GC threads but left the stuck thread first in Maglev's concurrent dispatcher, then (with --no-maglev)
// in Sparkplug's BaselineCompilerTask. So the guard turns off every JavaScript compiler that runs on a
// background thread: Maglev and Sparkplug entirely (JavaScript runs in Ignition until TurboFan, which
// compiles on the main thread), TurboFan's concurrent mode, and the parallel and lazy compile tasks.
// Nothing then allocates on the JS heap from a background thread, so nothing waits on the main thread:
// the cause is gone, not made rarer. check.mjs asks V8 itself (%IsMaglevEnabled, %IsSparkplugEnabled,
// %IsConcurrentRecompilationSupported) that this holds; workerd refuses unknown V8 flags at start-up.
//
// How: workerd takes V8 flags only from its config (`Config.v8Flags`), which Miniflare never sets.
// Miniflare (and so wrangler and vitest-pool-workers) runs the binary named by MINIFLARE_WORKERD_PATH;
// this points it at a wrapper that passes the binary config on stdin through v8flags.mjs (adds the
// flags) and then execs the real workerd. Cloudflare's production runtime is not involved.
// Off switch: ADAPTAGENT_WORKERD_GUARD=0. An explicit MINIFLARE_WORKERD_PATH is always respected.
import { createHash } from "node:crypto";
import { chmodSync, existsSync, mkdirSync, readFileSync, writeFileSync } from "node:fs";
import { createRequire } from "node:module";
import { dirname, join, resolve } from "node:path";
import { fileURLToPath } from "node:url";

const HERE = dirname(fileURLToPath(import.meta.url));
const ROOT = resolve(HERE, "../..");
const OUT = join(ROOT, ".cache", "workerd-guard");
export const V8_FLAGS = [
  "--single-threaded",
  "--no-maglev",
  "--no-sparkplug",
  "--no-concurrent-recompilation",
  "--no-lazy-compile-dispatcher",
  "--no-parallel-compile-tasks-for-lazy",
  "--no-parallel-compile-tasks-for-eager-toplevel",
  "--no-concurrent-cache-deserialization",
];

/** Sets MINIFLARE_WORKERD_PATH to the guarded wrapper (not on Windows); returns its path or null. */
export function guardWorkerd() {
  if (process.env.MINIFLARE_WORKERD_PATH) return process.env.MINIFLARE_WORKERD_PATH;
  if (process.env.ADAPTAGENT_WORKERD_GUARD === "0" || process.platform === "win32") return null;
  const workerd = createRequire(join(ROOT, "package.json"))("workerd").default;
  const rewrite = join(HERE, "v8flags.mjs");
  const sh = (s) => `'${s.replaceAll("'", "'\\''")}'`;
  // Only `serve --binary -` reads a config from stdin; anything else (e.g. --version) runs as is.
  const script = `#!/bin/sh
# Written by scripts/workerd-guard/guard.mjs: workerd with V8 flags ${V8_FLAGS.join(" ")} added to its config.
case " $* " in
  *" serve "*" --binary "*" - "*) ;;
  *) exec ${sh(workerd)} "$@" ;;
esac
tmp=$(mktemp) || exit 1
${sh(process.execPath)} ${sh(rewrite)} ${V8_FLAGS.map(sh).join(" ")} <&0 >"$tmp" || { rm -f "$tmp"; exit 1; }
exec <"$tmp"
rm -f "$tmp"
exec ${sh(workerd)} "$@"
`;
  const wrapper = join(OUT, `workerd-${createHash("sha256").update(script).digest("hex").slice(0, 12)}`);
  if (!existsSync(wrapper) || readFileSync(wrapper, "utf8") !== script) {
    mkdirSync(OUT, { recursive: true });
    writeFileSync(wrapper, script);
    chmodSync(wrapper, 0o755);
  }
  process.env.MINIFLARE_WORKERD_PATH = wrapper;
  return wrapper;
}
