-- Registry of meta-trained artifacts in R2 (models/<version>/...). Global, not per account.
-- A version is immutable; at most one is active.
CREATE TABLE IF NOT EXISTS model_versions (
  version          TEXT PRIMARY KEY,
  r2_prefix        TEXT NOT NULL,
  manifest_sha256  TEXT NOT NULL,
  algorithm        TEXT NOT NULL,
  encoder          TEXT NOT NULL,
  metrics_json     TEXT NOT NULL DEFAULT '{}',
  created_at       TEXT NOT NULL DEFAULT (strftime('%Y-%m-%dT%H:%M:%fZ', 'now')),
  active           INTEGER NOT NULL DEFAULT 0 CHECK (active IN (0, 1)),
  activated_at     TEXT
);
CREATE UNIQUE INDEX IF NOT EXISTS model_versions_one_active ON model_versions(active) WHERE active = 1;
CREATE INDEX IF NOT EXISTS model_versions_created ON model_versions(created_at, version);
