import { cloudflareTest, readD1Migrations } from "@cloudflare/vitest-pool-workers";
import { defineConfig } from "vitest/config";
import { graphiqlWithoutSourceMap } from "./test/graphql/graphiql-sourcemap.js";

// One pool for every Worker test: importing the 14 MB onnxruntime wasm costs ~6 s per pool.
export default defineConfig(async () => {
  const migrations = await readD1Migrations("./migrations");
  return {
    plugins: [
      graphiqlWithoutSourceMap(), // GraphiQL's 9 MB module: see the plugin's comment
      cloudflareTest({
        main: "./workers/index.ts",
        wrangler: { configPath: "./wrangler.toml" },
        miniflare: {
          // Test-only bindings: the migrations to apply, and where the local OpenAI-compatible server listens.
          bindings: { TEST_MIGRATIONS: migrations },
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
