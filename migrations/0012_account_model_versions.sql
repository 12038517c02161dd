-- A ModelVersion may belong to one account: an edge encoder re-tuned on that account's own texts
-- (training/account_encoder.py). While it is active it serves that account's tasks; every other account
-- is served by the global active version (account_id NULL). At most one active version per scope:
-- one global, and one per account.
ALTER TABLE model_versions ADD COLUMN account_id TEXT REFERENCES accounts(id);
DROP INDEX IF EXISTS model_versions_one_active;
CREATE UNIQUE INDEX IF NOT EXISTS model_versions_one_active ON model_versions(active) WHERE active = 1 AND account_id IS NULL;
CREATE UNIQUE INDEX IF NOT EXISTS model_versions_one_active_per_account ON model_versions(account_id)
  WHERE active = 1 AND account_id IS NOT NULL;
-- The cron's snapshot of each account's texts (functions/accountTexts.ts) reads them newest first.
CREATE INDEX IF NOT EXISTS examples_account_created ON examples(account_id, created_at);
CREATE INDEX IF NOT EXISTS executions_account_created ON executions(account_id, created_at);
