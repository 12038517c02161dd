// Shared helpers of the edge benchmarks: statistics, the machine's description, workerd's memory.
import { execFileSync } from "node:child_process";
import { readFileSync } from "node:fs";
import { cpus, loadavg, totalmem } from "node:os";
import { V8_FLAGS } from "../scripts/workerd-guard/guard.mjs";

export function stats(xs) {
  const s = [...xs].sort((a, b) => a - b);
  const q = (p) => s[Math.min(s.length - 1, Math.max(0, Math.round(p * (s.length - 1))))];
  const r = (x) => Number(x.toFixed(3));
  return { n: s.length, median: r(q(0.5)), p10: r(q(0.1)), p90: r(q(0.9)), p99: r(q(0.99)), min: r(s[0]), max: r(s[s.length - 1]) };
}

export function machine() {
  const c = cpus();
  return {
    cpu: c[0]?.model ?? "unknown",
    cores: c.length,
    memory_gb: Number((totalmem() / 2 ** 30).toFixed(1)),
    node: process.version,
    workerd: execFileSync("npx", ["workerd", "--version"], { encoding: "utf8" }).trim(),
    // scripts/workerd-guard: workerd runs with these V8 flags (no background compilation), unless turned off
    workerd_guard: process.env.MINIFLARE_WORKERD_PATH ? "on" : "off",
    workerd_v8_flags: process.env.MINIFLARE_WORKERD_PATH ? V8_FLAGS : [],
    date: new Date().toISOString(),
    load_average_1_5_15: loadavg().map((x) => Number(x.toFixed(2))), // the machine is shared: read numbers against this
  };
}

export { workerdPids } from "../scripts/worker-client.mjs";

/** Resident set size of a process in MB (VmRSS). */
export function rssMb(pid) {
  const m = readFileSync(`/proc/${pid}/status`, "utf8").match(/VmRSS:\s+(\d+) kB/);
  return m ? Number((Number(m[1]) / 1024).toFixed(1)) : NaN;
}

export const readJsonl = (file) => readFileSync(file, "utf8").split("\n").filter((l) => l.trim()).map((l) => JSON.parse(l));

/** Resolves once `${base}/health` answers (wrangler dev starting up); throws after two minutes. */
export async function waitForHealth(base) {
  for (let i = 0; ; i++) {
    try {
      if ((await fetch(`${base}/health`)).ok) return;
    } catch {
      // not up yet
    }
    if (i > 240) throw new Error("wrangler dev did not come up");
    await new Promise((r) => setTimeout(r, 500));
  }
}
