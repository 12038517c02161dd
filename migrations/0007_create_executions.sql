-- One input run through a task. path: 'llm_baseline' (no model yet: in-context demonstrations),
-- 'model' (confident prediction answered alone), 'model+llm' (LLM guided by prediction + retrieval).
CREATE TABLE IF NOT EXISTS executions (
  id                  TEXT PRIMARY KEY,
  account_id          TEXT NOT NULL REFERENCES accounts(id) ON DELETE CASCADE,
  task_id             TEXT NOT NULL REFERENCES tasks(id) ON DELETE CASCADE,
  conversation_id     TEXT REFERENCES conversations(id) ON DELETE CASCADE,
  input               TEXT NOT NULL,
  output              TEXT,
  status              TEXT NOT NULL CHECK (status IN ('succeeded', 'failed')),
  error_code          TEXT,
  path                TEXT NOT NULL,
  path_reason         TEXT NOT NULL DEFAULT '',
  predicted_label     TEXT,
  confidence          REAL,
  scores_json         TEXT NOT NULL DEFAULT '[]',   -- top-k [{label, score}]
  demonstrations_json TEXT NOT NULL DEFAULT '[]',   -- retrieved [{exampleId, similarity}]
  adaptation_id       TEXT REFERENCES adaptations(id) ON DELETE SET NULL,
  model_version       TEXT,
  llm_model           TEXT,
  prompt_tokens       INTEGER,
  completion_tokens   INTEGER,
  latency_ms          REAL NOT NULL,
  created_at          TEXT NOT NULL DEFAULT (strftime('%Y-%m-%dT%H:%M:%fZ', 'now'))
);
CREATE INDEX IF NOT EXISTS executions_task_created ON executions(task_id, created_at, id);
CREATE INDEX IF NOT EXISTS executions_conversation ON executions(conversation_id, created_at);
