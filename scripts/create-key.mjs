#!/usr/bin/env node
// npm run create-key -- [--remote] [--admin] [--account NAME] [--label TEXT]
// Creates an account and its API key in local D1 (as `npm start` uses it) or, with --remote, in the
// deployed database, and prints the key once. --admin: the key may register and activate model versions.
import { parseArgs } from "node:util";
import { createAccountKey } from "./keys.mjs";

const { values: opt } = parseArgs({
  options: {
    remote: { type: "boolean", default: false },
    admin: { type: "boolean", default: false },
    account: { type: "string", default: "default" },
    label: { type: "string", default: "created by npm run create-key" },
  },
});
const { key, accountId } = createAccountKey(opt);
console.error(`[create-key] account ${opt.account} (${accountId}) in ${opt.remote ? "the deployed" : "local"} D1${opt.admin ? ", admin key" : ""}; the key is shown only now:`);
console.log(key);
