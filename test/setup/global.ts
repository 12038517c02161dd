// Global setup runs in Node (outside workerd): start fixtures the Worker reaches over real HTTP.
// vitest.config.ts chose the port (it must put it in the Worker's bindings before this runs).
import type { Server } from "node:http";
import { startFakeLlm } from "../support/fake-llm";

export default async function setup(): Promise<() => Promise<void>> {
  const port = Number(process.env.ADAPTAGENT_TEST_LLM_PORT);
  let server: Server | null = null;
  if (port > 0) server = await startFakeLlm(port);
  return async () => {
    await new Promise<void>((resolve) => (server ? server.close(() => resolve()) : resolve()));
  };
}
