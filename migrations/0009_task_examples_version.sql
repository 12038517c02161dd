-- Bumped in the same batch as every insert or delete of one of the task's examples: the edge runtime's
-- per-isolate caches of a task's support set are keyed by it (functions/model/support.ts). A key made of
-- the examples' rowids is not enough: SQLite reuses the largest rowid after the newest row is deleted.
ALTER TABLE tasks ADD COLUMN examples_version INTEGER NOT NULL DEFAULT 0;
