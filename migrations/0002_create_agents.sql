-- An agent: instructions and which LLM it talks to. The LLM key is a Worker secret, never a column.
CREATE TABLE IF NOT EXISTS agents (
  id            TEXT PRIMARY KEY,
  account_id    TEXT NOT NULL REFERENCES accounts(id) ON DELETE CASCADE,
  name          TEXT NOT NULL,
  instructions  TEXT NOT NULL DEFAULT '',
  llm_model     TEXT,            -- NULL: the Worker's LLM_MODEL
  llm_base_url  TEXT,            -- NULL: the Worker's LLM_BASE_URL
  created_at    TEXT NOT NULL DEFAULT (strftime('%Y-%m-%dT%H:%M:%fZ', 'now')),
  updated_at    TEXT NOT NULL DEFAULT (strftime('%Y-%m-%dT%H:%M:%fZ', 'now'))
);
-- Cursor pagination orders by (created_at, id).
CREATE INDEX IF NOT EXISTS agents_account_created ON agents(account_id, created_at, id);
