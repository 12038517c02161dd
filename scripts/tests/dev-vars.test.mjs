// node --test scripts/tests: the local defaults `npm start` writes into .dev.vars.
import assert from "node:assert/strict";
import { mkdtempSync, readFileSync, statSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { test } from "node:test";
import { ensureDevVars, LOCAL_RECEIVER, withDevDefaults } from "../dev-vars.mjs";

test("a fresh file gets a 32-byte secrets key and the local receiver, with owner-only permissions", () => {
  const path = join(mkdtempSync(join(tmpdir(), "devvars-")), ".dev.vars");
  assert.deepEqual(ensureDevVars(path), ["WEBHOOK_SECRETS_KEY", "WEBHOOK_ALLOWED_CALLBACK_URLS"]);
  const text = readFileSync(path, "utf8");
  const key = text.match(/^WEBHOOK_SECRETS_KEY=(.+)$/m)[1];
  assert.equal(Buffer.from(key, "base64url").length, 32);
  assert.match(text, new RegExp(`^WEBHOOK_ALLOWED_CALLBACK_URLS=${LOCAL_RECEIVER}$`, "m"));
  assert.equal(statSync(path).mode & 0o777, 0o600);
  assert.deepEqual(ensureDevVars(path), []); // generated once: the key never changes under sealed secrets
  assert.equal(readFileSync(path, "utf8"), text);
});

test("what the developer set stays as it was; only missing names are added", () => {
  const mine = "LLM_API_KEY=sk-mine\nWEBHOOK_SECRETS_KEY = my-own-key";
  const { text, added } = withDevDefaults(mine);
  assert.deepEqual(added, ["WEBHOOK_ALLOWED_CALLBACK_URLS"]);
  assert.ok(text.startsWith(`${mine}\n`));
  assert.equal(text.match(/WEBHOOK_SECRETS_KEY/g).length, 1);
  const two = join(mkdtempSync(join(tmpdir(), "devvars-")), ".dev.vars");
  writeFileSync(two, "# comment\r\nWEBHOOK_ALLOWED_CALLBACK_URLS=https://hooks.example/\r\n");
  assert.deepEqual(ensureDevVars(two), ["WEBHOOK_SECRETS_KEY"]);
  assert.match(readFileSync(two, "utf8"), /https:\/\/hooks\.example\//);
});

test("two calls give two different keys (random, not a constant)", () => {
  const a = withDevDefaults("").text.match(/^WEBHOOK_SECRETS_KEY=(.+)$/m)[1];
  const b = withDevDefaults("").text.match(/^WEBHOOK_SECRETS_KEY=(.+)$/m)[1];
  assert.notEqual(a, b);
});
