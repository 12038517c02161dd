// Requests from Node to a Worker started by wrangler's unstable_startWorker (npm run eval, npm run bench),
// with a watchdog for a request that is lost on its way in.
//
// Why: wrangler runs a ProxyWorker in its own workerd process in front of the user Worker, and forwards
// each request over a pooled keep-alive connection. kj's HTTP client and server both drop idle connections
// after 5 s; when a request is written to a connection just as it closes, the ProxyWorker's fetch neither
// resolves nor rejects (wrangler 4.86, workerd 1.20260426). The request never reaches the Worker, the
// client waits forever, and the Worker's workerd sits idle. Observed here after requests that take longer
// than 5 s (the 5 820-example benchmark case): several runs in ten hung on the next request. Upstream:
// cloudflare/workers-sdk issues 4562, 14641, 14848.
//
// So a pending request whose workerd processes have used no CPU for `idleMs` is taken as lost: it is
// aborted and sent again (at most `attempts` times in all). A request that is slow but working keeps
// workerd busy and is never cut. Only for these tools' own requests, which are all safe to repeat.
import { readFileSync } from "node:fs";

/** PIDs of every descendant process of `root` whose command is workerd. */
export function workerdPids(root = process.pid) {
  const out = [];
  const walk = (pid) => {
    let kids = [];
    try {
      kids = readFileSync(`/proc/${pid}/task/${pid}/children`, "utf8").trim().split(/\s+/).filter(Boolean).map(Number);
    } catch {
      return;
    }
    for (const k of kids) {
      try {
        if (readFileSync(`/proc/${k}/comm`, "utf8").trim() === "workerd") out.push(k);
      } catch {
        // gone
      }
      walk(k);
    }
  };
  walk(root);
  return out;
}

/** CPU time (user + system, clock ticks) used so far by these processes; null where /proc is absent. */
function cpuTicks(pids) {
  let total = 0;
  for (const pid of pids) {
    try {
      // Fields after the command's closing parenthesis: utime and stime are the 12th and 13th.
      const rest = readFileSync(`/proc/${pid}/stat`, "utf8").split(") ").pop().split(" ");
      total += Number(rest[11]) + Number(rest[12]);
    } catch {
      return null;
    }
  }
  return total;
}

/**
 * `fetchFn(url, init)` with the watchdog: resolves to { status, ok, text } (the body read inside it).
 * `root`: the process whose workerd descendants serve the request (default: this one).
 */
export async function watchedFetch(fetchFn, url, init = {}, { idleMs = 20_000, attempts = 3, root = process.pid, log = (m) => console.error(m) } = {}) {
  for (let attempt = 1; ; attempt++) {
    const controller = new AbortController();
    let lost = false;
    let last = null; // first read a second in: a quick request costs no /proc reads (benchmarks time these)
    let idleSince = performance.now();
    const timer = setInterval(() => {
      const now = cpuTicks(workerdPids(root));
      // More than 20 ms of CPU in the last second: working (idle workerd processes use a few ms).
      const busy = now === null || last === null || now - last > 2;
      last = now;
      if (busy) idleSince = performance.now();
      else if (performance.now() - idleSince > idleMs) {
        lost = true;
        controller.abort();
      }
    }, 1000);
    try {
      const signal = init.signal ? AbortSignal.any([controller.signal, init.signal]) : controller.signal; // the caller's own limit still holds
      const res = await fetchFn(url, { ...init, signal });
      return { status: res.status, ok: res.ok, text: await res.text() };
    } catch (error) {
      const path = new URL(url).pathname;
      if (!lost) throw error;
      if (attempt >= attempts) throw new Error(`${path}: lost ${attempts} times between wrangler's ProxyWorker and the Worker (no answer, workerd idle ${idleMs / 1000} s)`);
      log(`[worker-client] ${path}: no answer and workerd idle for ${idleMs / 1000} s, so the request was lost in wrangler's proxy; sending it again (${attempt + 1}/${attempts})`);
    } finally {
      clearInterval(timer);
    }
  }
}

/** `call(path, init)` → the response text of `origin + path` through `worker.fetch` (unstable_startWorker);
 *  a non-2xx answer throws with its status and body. */
export function workerCaller(worker, origin, options = {}) {
  return async function call(path, init = {}) {
    const res = await watchedFetch((url, i) => worker.fetch(url, i), `${origin}${path}`, init, options);
    if (!res.ok) throw new Error(`${path}: ${res.status} ${res.text.slice(0, 500)}`);
    return res.text;
  };
}
