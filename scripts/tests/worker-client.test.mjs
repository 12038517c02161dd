// node --test scripts/tests: the lost-request watchdog of scripts/worker-client.mjs against a real local
// HTTP server that never answers some requests (as wrangler's ProxyWorker sometimes does). No workerd
// runs under this process, so its workerd CPU is always idle: every unanswered request counts as lost.
import assert from "node:assert/strict";
import { createServer } from "node:http";
import { test } from "node:test";
import { watchedFetch } from "../worker-client.mjs";

async function server(answerFrom) {
  let seen = 0;
  const s = createServer((req, res) => {
    seen += 1;
    if (seen >= answerFrom) res.end(`answer ${seen}`); // earlier requests: never answered
  });
  await new Promise((r) => s.listen(0, "127.0.0.1", r));
  return { url: `http://127.0.0.1:${s.address().port}/x`, close: () => s.closeAllConnections() || s.close(), seen: () => seen };
}

test("a request that gets no answer while workerd is idle is sent again", async () => {
  const s = await server(2);
  const logs = [];
  try {
    const res = await watchedFetch(fetch, s.url, {}, { idleMs: 1500, log: (m) => logs.push(m) });
    assert.equal(res.status, 200);
    assert.equal(res.text, "answer 2");
    assert.equal(s.seen(), 2);
    assert.match(logs.join("\n"), /\/x: no answer and workerd idle .* sending it again \(2\/3\)/);
  } finally {
    s.close();
  }
});

test("it gives up after `attempts` and says why", async () => {
  const s = await server(Infinity);
  try {
    await assert.rejects(watchedFetch(fetch, s.url, {}, { idleMs: 1200, attempts: 2, log: () => {} }), /\/x: lost 2 times between wrangler's ProxyWorker and the Worker/);
    assert.equal(s.seen(), 2);
  } finally {
    s.close();
  }
});

test("the caller's own time limit is kept, and is not retried", async () => {
  const s = await server(Infinity);
  try {
    await assert.rejects(watchedFetch(fetch, s.url, { signal: AbortSignal.timeout(300) }, { idleMs: 5000, log: () => {} }), /TimeoutError|aborted/);
    assert.equal(s.seen(), 1);
  } finally {
    s.close();
  }
});
