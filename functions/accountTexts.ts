// The scheduled snapshot of each account's own texts (workers/index.ts `scheduled`): the inputs of its
// examples and of its executions, distinct, newest first, unlabelled, written to R2 as
// `corpus/<accountId>/texts.jsonl` (one {"text"} object per line; docs/architecture.md). The training
// job re-tunes the edge encoder on them for that account (training/account_encoder.py) and publishes
// the result as the account's own ModelVersion. A snapshot replaces the account's previous one (it is
// the account's current corpus, not a log), at most once per SNAPSHOT_EVERY_MS, only for accounts with
// at least MIN_TEXTS texts, and only for accounts whose texts changed lately (a new example or execution
// within two periods): an idle account's snapshot is already current. Accounts are taken in random order, at
// most MAX_ACCOUNTS_PER_RUN per run, so with more active accounts than that every one is reached within
// a few runs (the cron runs every 15 minutes). No label, no output and no other account's text is in it.
import { accountExampleInputs, accountsWithExamplesSince } from "./examples";
import { accountExecutionInputs, accountsWithExecutionsSince } from "./executions";

export const MAX_ACCOUNT_TEXTS = 20_000; // per account and snapshot (what the training job reads at most)
export const MIN_TEXTS = 50; // fewer texts than this tune nothing worth a version
export const SNAPSHOT_EVERY_MS = 24 * 3600 * 1000;
const MAX_ACCOUNTS_PER_RUN = 200;

export const accountTextsKey = (accountId: string) => `corpus/${accountId}/texts.jsonl`;

/** An account's distinct texts: its examples' inputs (newest first), then its executions' (newest first). */
export async function accountTexts(db: D1Database, accountId: string, limit = MAX_ACCOUNT_TEXTS): Promise<string[]> {
  const [examples, executions] = await Promise.all([
    accountExampleInputs(db, accountId, limit),
    accountExecutionInputs(db, accountId, limit),
  ]);
  const seen = new Set<string>();
  for (const text of [...examples, ...executions]) {
    const t = text.trim();
    if (t && !seen.has(t)) seen.add(t);
    if (seen.size >= limit) break;
  }
  return [...seen];
}

/** Writes the snapshots that are due; returns which accounts got one. */
export async function exportAccountTexts(db: D1Database, bucket: R2Bucket, now: Date = new Date()): Promise<{ accountId: string; texts: number }[]> {
  const written: { accountId: string; texts: number }[] = [];
  // Twice the period: a text written just after the last snapshot is still inside the window when that
  // snapshot falls due, whatever the clocks of D1 and R2 say to the millisecond.
  const since = new Date(now.getTime() - 2 * SNAPSHOT_EVERY_MS).toISOString();
  const [fromExamples, fromExecutions] = await Promise.all([
    accountsWithExamplesSince(db, since, MAX_ACCOUNTS_PER_RUN),
    accountsWithExecutionsSince(db, since, MAX_ACCOUNTS_PER_RUN),
  ]);
  const active = [...new Set([...fromExamples, ...fromExecutions])].slice(0, MAX_ACCOUNTS_PER_RUN);
  for (const accountId of active) {
    const previous = await bucket.head(accountTextsKey(accountId));
    if (previous && now.getTime() - previous.uploaded.getTime() < SNAPSHOT_EVERY_MS) continue;
    const texts = await accountTexts(db, accountId);
    if (texts.length < MIN_TEXTS) continue;
    const body = texts.map((text) => JSON.stringify({ text })).join("\n") + "\n";
    await bucket.put(accountTextsKey(accountId), body, {
      httpMetadata: { contentType: "application/x-ndjson" },
      customMetadata: { accountId, texts: String(texts.length), snapshotAt: now.toISOString() },
    });
    written.push({ accountId, texts: texts.length });
  }
  return written;
}
