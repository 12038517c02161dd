// How npm start runs wrangler dev (scripts/start.mjs).
import assert from "node:assert/strict";
import { readFileSync } from "node:fs";
import { test } from "node:test";

// The cron's jobs must run on request: wrangler dev serves GET /__scheduled only with --test-scheduled,
// and its /cdn-cgi/handler/scheduled cannot reach a Worker with static assets.
test("npm start passes --test-scheduled to wrangler dev", () => {
  const source = readFileSync(new URL("../start.mjs", import.meta.url), "utf8");
  assert.match(devArgs(source), /"--test-scheduled"/);
});

// Locally no Cloudflare edge sets CF-Connecting-IP: a client's own must not pick its rate-limit address.
test("npm start tells the Worker not to trust CF-Connecting-IP", () => {
  const source = readFileSync(new URL("../start.mjs", import.meta.url), "utf8");
  assert.match(devArgs(source), /"--var", "TRUST_CF_CONNECTING_IP:false"/);
});

/** The argument list start.mjs spawns wrangler with. */
function devArgs(source) {
  const args = source.match(/spawn\(\s*wrangler,\s*(\[[^\]]*\])/)?.[1];
  assert.ok(args, "start.mjs spawns wrangler dev");
  assert.match(args, /"dev"/);
  return args;
}
