// npm start must run the cron's jobs on request: wrangler dev only serves GET /__scheduled with
// --test-scheduled, and its /cdn-cgi/handler/scheduled cannot reach a Worker with static assets.
import assert from "node:assert/strict";
import { readFileSync } from "node:fs";
import { test } from "node:test";

test("npm start passes --test-scheduled to wrangler dev", () => {
  const source = readFileSync(new URL("../start.mjs", import.meta.url), "utf8");
  const spawnLine = source.split("\n").find((line) => line.includes("spawn(wrangler") && line.includes('"dev"'));
  assert.ok(spawnLine, "start.mjs spawns wrangler dev");
  assert.match(spawnLine, /"--test-scheduled"/);
});
