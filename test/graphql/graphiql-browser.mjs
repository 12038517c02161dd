// Headless check that GraphiQL really renders and works offline (not a vitest test: it needs a real
// browser). Run: `node test/graphql/graphiql-browser.mjs` (needs `apt-get install chromium`).
// Starts `wrangler dev` on its own port and state folder (.cache/graphiql-check), creates an account
// and key there, opens /graphql in Chromium, runs the default query with the key, and fails if the
// page errors, asks any host but the Worker for anything, or does not show the query's result.
import { execFileSync, spawn } from "node:child_process";
import { createHash, randomBytes, randomUUID } from "node:crypto";
import { mkdirSync, rmSync } from "node:fs";
import { dirname, join } from "node:path";
import { fileURLToPath } from "node:url";
import { chromium } from "playwright-core";

const root = join(dirname(fileURLToPath(import.meta.url)), "..", "..");
const wrangler = join(root, "node_modules", ".bin", "wrangler");
const state = join(root, ".cache", "graphiql-check");
const port = Number(process.env.PORT ?? 8797);
const origin = `http://127.0.0.1:${port}`;
const local = ["--local", "--persist-to", state];

rmSync(state, { recursive: true, force: true });
mkdirSync(state, { recursive: true });
execFileSync(wrangler, ["d1", "migrations", "apply", "adaptagent", ...local], { cwd: root, stdio: "ignore", env: { ...process.env, CI: "1" } });
const apiKey = `aa_${randomBytes(32).toString("base64url")}`;
const accountId = randomUUID();
const keyHash = createHash("sha256").update(apiKey).digest("hex");
execFileSync(wrangler, ["d1", "execute", "adaptagent", ...local, "--command",
  `INSERT INTO accounts (id, name) VALUES ('${accountId}', 'graphiql-check');` +
  `INSERT INTO api_keys (id, account_id, key_hash) VALUES ('${randomUUID()}', '${accountId}', '${keyHash}');` +
  `INSERT INTO agents (id, account_id, name) VALUES ('${randomUUID()}', '${accountId}', 'Rendered in Chromium');`,
], { cwd: root, stdio: "ignore" });

const dev = spawn(wrangler, ["dev", "--ip", "127.0.0.1", "--port", String(port), "--persist-to", state], {
  cwd: root, stdio: ["ignore", "pipe", "pipe"], detached: true,
});
let browser;
try {
  for (let i = 0; ; i++) {
    try { if ((await fetch(`${origin}/health`)).ok) break; } catch { /* not up yet */ }
    if (i > 120) throw new Error("wrangler dev did not come up in 120 s");
    await new Promise((r) => setTimeout(r, 1000));
  }
  browser = await chromium.launch({
    executablePath: process.env.CHROMIUM ?? "/usr/bin/chromium",
    args: ["--headless", "--no-sandbox", "--disable-gpu", "--disable-background-networking"],
  });
  const page = await browser.newPage();
  const problems = [];
  page.on("pageerror", (e) => problems.push(`page error: ${e.message}`));
  page.on("request", (r) => {
    const url = r.url();
    if (!url.startsWith(origin) && !url.startsWith("blob:") && !url.startsWith("data:")) problems.push(`external request: ${url}`);
  });
  // The browser user pastes the key into the Headers tab; here it is added to the page's requests.
  await page.route(`${origin}/graphql`, (route) =>
    route.continue({ headers: { ...route.request().headers(), authorization: `Bearer ${apiKey}` } }));
  // GraphiQL introspects the schema on load (the docs explorer and completion depend on it); the depth
  // limit must not refuse that.
  const introspection = page.waitForResponse((r) => r.url() === `${origin}/graphql` && (r.request().postData() ?? "").includes("IntrospectionQuery"));
  const started = Date.now();
  await page.goto(`${origin}/graphql`, { waitUntil: "load" });
  await page.waitForSelector(".graphiql-container", { timeout: 30_000 });
  const rendered = Date.now() - started;
  const introspected = await (await introspection).json();
  if (!introspected.data?.__schema || introspected.errors) problems.push(`introspection failed: ${JSON.stringify(introspected.errors)}`);
  await page.click(".graphiql-execute-button");
  try {
    // Monaco renders spaces as U+00A0.
    await page.waitForFunction(
      () => document.querySelector(".graphiql-response")?.textContent?.replaceAll("\u00a0", " ").includes("Rendered in Chromium"),
      null,
      { timeout: 30_000 },
    );
  } finally {
    await page.screenshot({ path: join(root, ".cache", "graphiql.png") });
  }
  if (problems.length > 0) throw new Error(problems.join("\n"));
  console.log(`GraphiQL rendered offline in ${rendered} ms and ran the default query; screenshot: .cache/graphiql.png`);
} finally {
  await browser?.close();
  process.kill(-dev.pid, "SIGTERM");
}
