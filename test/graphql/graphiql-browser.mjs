// Headless check that GraphiQL really renders and works offline (not a vitest test: it needs a real
// browser). `npm test` runs it after vitest; alone: `node scripts/build-assets.mjs && node
// test/graphql/graphiql-browser.mjs` (needs `apt-get install chromium`).
// Starts `wrangler dev` on its own port and state folder (.cache/graphiql-check), creates an account
// and key there, opens /graphql in Chromium, runs the default query with the key, and fails if the
// page errors, asks any host but the Worker for anything, or does not show the query's result.
import { spawn } from "node:child_process";
import { randomUUID } from "node:crypto";
import { mkdirSync, rmSync } from "node:fs";
import { dirname, join } from "node:path";
import { fileURLToPath } from "node:url";
import { chromium } from "playwright-core";
import { createAccountKey } from "../../scripts/keys.mjs";
import { guardWorkerd } from "../../scripts/workerd-guard/guard.mjs";
import { d1, WRANGLER, wrangler } from "../../scripts/wrangler.mjs";

const root = join(dirname(fileURLToPath(import.meta.url)), "..", "..");
const state = join(root, ".cache", "graphiql-check");
const port = Number(process.env.PORT ?? 8797);
const origin = `http://127.0.0.1:${port}`;

guardWorkerd(); // wrangler dev inherits it (scripts/workerd-guard/guard.mjs)
rmSync(state, { recursive: true, force: true });
mkdirSync(state, { recursive: true });
wrangler(["d1", "migrations", "apply", "adaptagent"], { persistTo: state });
const { key: apiKey, accountId } = createAccountKey({ account: "graphiql-check", persistTo: state });
d1(`INSERT INTO agents (id, account_id, name) VALUES ('${randomUUID()}', '${accountId}', 'Rendered in Chromium');`, { persistTo: state });

const dev = spawn(WRANGLER, ["dev", "--ip", "127.0.0.1", "--port", String(port), "--persist-to", state], {
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
  // The page's scripts come from Workers static assets with a cache lifetime (public/_headers).
  let assets = 0;
  page.on("response", (r) => {
    if (r.url().startsWith(`${origin}/graphiql/assets/`)) assets += 1;
    if (r.url().startsWith(`${origin}/graphiql/assets/`) && r.status() === 200 && !/max-age=\d+/.test(r.headers()["cache-control"] ?? "")) {
      problems.push(`asset without a cache lifetime: ${r.url()} (cache-control: ${r.headers()["cache-control"]})`);
    }
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
  if (assets < 3) problems.push(`only ${assets} requests for /graphiql/assets/: the page did not load its scripts from the static assets`);
  if (problems.length > 0) throw new Error(problems.join("\n"));
  console.log(`GraphiQL rendered offline in ${rendered} ms and ran the default query; screenshot: .cache/graphiql.png`);
} finally {
  await browser?.close();
  process.kill(-dev.pid, "SIGTERM");
}
