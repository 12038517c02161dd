-- A correction of an execution. It becomes an example of the task (example_id) and waits in the
-- export queue (exported_at NULL) for the next meta-training run.
CREATE TABLE IF NOT EXISTS feedback (
  id                TEXT PRIMARY KEY,
  account_id        TEXT NOT NULL REFERENCES accounts(id) ON DELETE CASCADE,
  task_id           TEXT NOT NULL REFERENCES tasks(id) ON DELETE CASCADE,
  execution_id      TEXT NOT NULL REFERENCES executions(id) ON DELETE CASCADE,
  rating            INTEGER CHECK (rating IS NULL OR rating IN (-1, 0, 1)),
  corrected_label   TEXT,
  corrected_output  TEXT,
  comment           TEXT NOT NULL DEFAULT '',
  example_id        TEXT REFERENCES examples(id) ON DELETE SET NULL,
  exported_at       TEXT,
  created_at        TEXT NOT NULL DEFAULT (strftime('%Y-%m-%dT%H:%M:%fZ', 'now'))
);
CREATE INDEX IF NOT EXISTS feedback_task_created ON feedback(task_id, created_at, id);
CREATE INDEX IF NOT EXISTS feedback_export ON feedback(exported_at) WHERE exported_at IS NULL;
