// Test-only bindings, declared here and never in runtime code.
declare namespace Cloudflare {
  interface Env {
    TEST_MIGRATIONS: import("cloudflare:test").D1Migration[];
    TEST_ARTIFACT: string; // which .cache/artifacts/<name> the model tests load
    TEST_ARTIFACTS: Fetcher; // test/model/artifact-server.ts
  }
}
