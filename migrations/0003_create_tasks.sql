-- A task and its support set. kind: 'classification' (the label is the answer) or 'generation'
-- (the LLM writes the answer, guided by the predicted label/style and retrieved demonstrations).
CREATE TABLE IF NOT EXISTS tasks (
  id                    TEXT PRIMARY KEY,
  account_id            TEXT NOT NULL REFERENCES accounts(id) ON DELETE CASCADE,
  agent_id              TEXT NOT NULL REFERENCES agents(id) ON DELETE CASCADE,
  name                  TEXT NOT NULL,
  description           TEXT NOT NULL DEFAULT '',
  kind                  TEXT NOT NULL DEFAULT 'classification' CHECK (kind IN ('classification', 'generation')),
  labels_json           TEXT NOT NULL DEFAULT '[]',
  parameters_json       TEXT NOT NULL DEFAULT '{}',
  confidence_threshold  REAL NOT NULL DEFAULT 0.7,
  source_request        TEXT,    -- the plain-language request the LLM turned into this task, if any
  created_at            TEXT NOT NULL DEFAULT (strftime('%Y-%m-%dT%H:%M:%fZ', 'now')),
  updated_at            TEXT NOT NULL DEFAULT (strftime('%Y-%m-%dT%H:%M:%fZ', 'now'))
);
CREATE INDEX IF NOT EXISTS tasks_agent_created ON tasks(agent_id, created_at, id);
CREATE INDEX IF NOT EXISTS tasks_account_created ON tasks(account_id, created_at, id);

CREATE TABLE IF NOT EXISTS examples (
  id                       TEXT PRIMARY KEY,
  account_id               TEXT NOT NULL REFERENCES accounts(id) ON DELETE CASCADE,
  task_id                  TEXT NOT NULL REFERENCES tasks(id) ON DELETE CASCADE,
  input                    TEXT NOT NULL,
  label                    TEXT,          -- classification target / style of a generation example
  output                   TEXT,          -- the demonstrated answer (generation), optional otherwise
  source                   TEXT NOT NULL DEFAULT 'user' CHECK (source IN ('user', 'feedback')),
  embedding                BLOB,          -- float32 little-endian, from embedding_model_version
  embedding_model_version  TEXT,
  created_at               TEXT NOT NULL DEFAULT (strftime('%Y-%m-%dT%H:%M:%fZ', 'now'))
);
CREATE INDEX IF NOT EXISTS examples_task_created ON examples(task_id, created_at, id);
