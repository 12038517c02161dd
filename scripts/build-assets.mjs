#!/usr/bin/env node
// Writes GraphiQL's browser assets (from @graphql-yoga/render-graphiql, the same build Yoga inlines) as
// separate files under public/graphiql/, which Workers static assets serve (cached, outside the Worker's
// bundle). public/graphiql/index.html is committed; these generated files are not. Run by npm start,
// vitest.config.ts, the GraphiQL check and npm run deploy; cheap (a copy), so it always runs.
import { mkdirSync, writeFileSync } from "node:fs";
import { join, resolve } from "node:path";
import { css, editorWorkerService, favicon, graphqlWorker, js, jsonWorker } from "@graphql-yoga/render-graphiql/graphiql";

const out = resolve(import.meta.dirname, "..", "public", "graphiql", "assets");

export function buildAssets() {
  mkdirSync(out, { recursive: true });
  const files = {
    "graphiql.js": js,
    "graphiql.css": css,
    "editor.worker.js": editorWorkerService,
    "json.worker.js": jsonWorker,
    "graphql.worker.js": graphqlWorker,
  };
  for (const [name, text] of Object.entries(files)) writeFileSync(join(out, name), text);
  // The favicon is a base64 data: URL in the package.
  writeFileSync(join(out, "favicon.ico"), Buffer.from(favicon.slice(favicon.indexOf(",") + 1), "base64"));
  return Object.keys(files).length + 1;
}

if (import.meta.url === `file://${process.argv[1]}`) {
  console.error(`[assets] GraphiQL assets written to public/graphiql/assets (${buildAssets()} files)`);
}
