#!/usr/bin/env node
// npm run publish:local [-- DIR] [--no-activate] [--persist-to DIR]
// npm run publish:remote [-- DIR]   (the deployed Worker's R2 bucket and D1 database)
// Publishes a model artifact (default: the shipped models/default) after checking every file against
// its manifest, registers it in D1 and makes it the active ModelVersion. A version already published
// with the same manifest is kept (versions are immutable; another manifest under it is refused). No
// Python needed.
import { parseArgs } from "node:util";
import { ArtifactError, describeArtifact, publishArtifact, resolveArtifact, verifyArtifact } from "./artifact.mjs";

const { values: opt, positionals } = parseArgs({
  allowPositionals: true,
  options: {
    remote: { type: "boolean", default: false },
    "no-activate": { type: "boolean", default: false },
    "persist-to": { type: "string" },
  },
});
try {
  const dir = resolveArtifact(positionals[0]);
  console.error(`[publish] ${describeArtifact(dir, verifyArtifact(dir).manifest)}`);
  publishArtifact(dir, {
    activate: !opt["no-activate"],
    remote: opt.remote,
    persistTo: opt["persist-to"],
  });
} catch (error) {
  if (!(error instanceof ArtifactError)) throw error;
  console.error(`publish: ${error.message}`);
  process.exit(2);
}
