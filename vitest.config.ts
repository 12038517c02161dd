import { cloudflareTest, readD1Migrations } from "@cloudflare/vitest-pool-workers";
import { defineConfig } from "vitest/config";
import { freePort } from "./test/support/fake-llm.js";
import { serveArtifacts, testArtifactName } from "./test/model/artifact-server.js";
import { buildAssets } from "./scripts/build-assets.mjs";
import { guardWorkerd } from "./scripts/workerd-guard/guard.mjs";

// Before any workerd starts: run it with V8 flags that rule out a livelock (scripts/workerd-guard/guard.mjs).
guardWorkerd();
buildAssets(); // GraphiQL's files in public/ (Workers static assets, bound as ASSETS)

// One pool for every Worker test: importing the 14 MB onnxruntime wasm costs ~6 s per pool.
export default defineConfig(async () => {
  const migrations = await readD1Migrations("./migrations");
  // The local OpenAI-compatible server (test/support/fake-llm.ts), started by global setup on this port.
  const llmPort = Number(process.env.ADAPTAGENT_TEST_LLM_PORT) || (await freePort());
  process.env.ADAPTAGENT_TEST_LLM_PORT = String(llmPort);
  return {
    plugins: [
      cloudflareTest({
        main: "./workers/index.ts",
        wrangler: { configPath: "./wrangler.toml" },
        miniflare: {
          // Test-only bindings: the migrations to apply, and where the local OpenAI-compatible server listens.
          bindings: {
            TEST_MIGRATIONS: migrations,
            LLM_BASE_URL: `http://127.0.0.1:${llmPort}/v1`,
            LLM_ALLOWED_BASE_URLS: `http://127.0.0.1:${llmPort}/alt/v1`,
            LLM_MODEL: "echo",
            LLM_API_KEY: "sk-test-SECRET-never-leak-4f1c2a",
            LLM_TIMEOUT_MS: "1000",
            LLM_MAX_RETRIES: "1",
            TEST_ARTIFACT: testArtifactName,
            // Webhooks: a test-only sealing key, callbacks to the local receiver, no waiting between retries.
            WEBHOOK_SECRETS_KEY: "dGVzdC1vbmx5LXdlYmhvb2stc2VjcmV0cy1rZXktMzI=",
            WEBHOOK_ALLOWED_CALLBACK_URLS: `http://127.0.0.1:${llmPort}/callback/`,
            WEBHOOK_RETRY_BASE_S: "0",
            WEBHOOK_CALLBACK_TIMEOUT_MS: "1000",
          },
          // Model artifacts built on disk, read by test/model/* to fill the local R2 bucket.
          serviceBindings: { TEST_ARTIFACTS: serveArtifacts },
        },
      }),
    ],
    test: {
      include: ["test/**/*.test.ts"],
      setupFiles: ["./test/setup/apply-migrations.ts"],
      globalSetup: ["./test/setup/global.ts"],
      testTimeout: 30_000,
    },
  };
});
