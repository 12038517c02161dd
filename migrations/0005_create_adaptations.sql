-- One fit of the active model's head to a task's support set (the inner loop, run at the edge).
-- support_fingerprint hashes the examples + model version it was fitted on: a mismatch means stale.
CREATE TABLE IF NOT EXISTS adaptations (
  id                   TEXT PRIMARY KEY,
  account_id           TEXT NOT NULL REFERENCES accounts(id) ON DELETE CASCADE,
  task_id              TEXT NOT NULL REFERENCES tasks(id) ON DELETE CASCADE,
  model_version        TEXT NOT NULL REFERENCES model_versions(version),
  algorithm            TEXT NOT NULL,
  steps                INTEGER NOT NULL,
  support_size         INTEGER NOT NULL,
  labels_json          TEXT NOT NULL,      -- label order of the head's rows
  support_loss_before  REAL,
  support_loss_after   REAL,
  support_acc_before   REAL,
  support_acc_after    REAL,
  duration_ms          REAL NOT NULL,
  support_fingerprint  TEXT NOT NULL,
  head                 BLOB,               -- float32 weight [labels, features] then bias [labels]
  created_at           TEXT NOT NULL DEFAULT (strftime('%Y-%m-%dT%H:%M:%fZ', 'now'))
);
CREATE INDEX IF NOT EXISTS adaptations_task_created ON adaptations(task_id, created_at, id);
