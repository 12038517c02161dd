// Guards the local workerd (tests, `npm start`, `npm run eval`, bench/) against a V8 livelock seen on
// 2-CPU hosts such as this project's CI: V8 sizes its background pool from the CPU count minus one,
// and with a single background worker a concurrent Maglev compile can wait for a GC that the main
// thread never starts while it keeps pumping cppgc sweeper tasks (gdb: worker thread in
// CollectionBarrier::AwaitCollectionBackground, main thread in IoContext::runImpl's message-loop pump).
// The isolate then spins at 100% CPU forever, so test timeouts never fire. Measured on this machine:
// test/model/runtime.test.ts hung in 2 of 9 runs unguarded, 0 of 14 guarded (docs/testing.md).
//
// The fix is to give V8 more than one background worker. Miniflare (and so wrangler and
// vitest-pool-workers) runs the binary named by MINIFLARE_WORKERD_PATH; on Linux hosts with fewer than
// 4 CPUs this points it at a wrapper that preloads ncpu.c, which makes workerd's V8 see 4 CPUs. It does
// not apply to Cloudflare's production runtime, which this project does not control or need to.
// Off switch: ADAPTAGENT_WORKERD_GUARD=0. An explicit MINIFLARE_WORKERD_PATH is always respected.
import { execFileSync } from "node:child_process";
import { createHash } from "node:crypto";
import { chmodSync, existsSync, mkdirSync, readFileSync, writeFileSync } from "node:fs";
import { createRequire } from "node:module";
import { availableParallelism } from "node:os";
import { dirname, join, resolve } from "node:path";
import { fileURLToPath } from "node:url";

const HERE = dirname(fileURLToPath(import.meta.url));
const ROOT = resolve(HERE, "../..");
const OUT = join(ROOT, ".cache", "workerd-guard");

/** Sets MINIFLARE_WORKERD_PATH when the guard applies; returns the wrapper path or null. */
export function guardWorkerd() {
  if (process.env.MINIFLARE_WORKERD_PATH) return process.env.MINIFLARE_WORKERD_PATH;
  if (process.env.ADAPTAGENT_WORKERD_GUARD === "0") return null;
  if (process.platform !== "linux" || availableParallelism() >= 4) return null;
  const workerd = createRequire(join(ROOT, "package.json"))("workerd").default;
  const source = join(HERE, "ncpu.c");
  const lib = join(OUT, "libncpu.so");
  const wrapper = join(OUT, "workerd");
  const stamp = join(OUT, "stamp");
  const want = `${createHash("sha256").update(readFileSync(source)).digest("hex")}:${workerd}`;
  if (!existsSync(wrapper) || !existsSync(stamp) || readFileSync(stamp, "utf8") !== want) {
    mkdirSync(OUT, { recursive: true });
    try {
      execFileSync("cc", ["-shared", "-fPIC", "-O2", "-o", lib, source, "-ldl"], { stdio: "pipe" });
    } catch (error) {
      console.warn(`[workerd-guard] no C compiler, running workerd unguarded (${String(error).split("\n")[0]})`);
      return null;
    }
    writeFileSync(wrapper, `#!/bin/sh\nLD_PRELOAD="${lib}\${LD_PRELOAD:+:$LD_PRELOAD}" exec "${workerd}" "$@"\n`);
    chmodSync(wrapper, 0o755);
    writeFileSync(stamp, want);
  }
  process.env.MINIFLARE_WORKERD_PATH = wrapper;
  return wrapper;
}
