-- Webhook endpoints: a signed inbound URL that executes one task, and where the result is posted back.
-- The signing secret is needed in clear to check and make HMAC signatures, so it is stored sealed
-- (AES-256-GCM under the WEBHOOK_SECRETS_KEY secret, functions/secrets.ts), never returned after creation.
-- After a rotation the previous secret still verifies inbound posts for a grace period.
CREATE TABLE IF NOT EXISTS webhook_endpoints (
  id                     TEXT PRIMARY KEY,
  account_id             TEXT NOT NULL REFERENCES accounts(id) ON DELETE CASCADE,
  task_id                TEXT NOT NULL REFERENCES tasks(id) ON DELETE CASCADE,
  callback_url           TEXT NOT NULL,
  secret_sealed          TEXT NOT NULL,
  previous_secret_sealed TEXT,
  secret_rotated_at      TEXT,
  enabled                INTEGER NOT NULL DEFAULT 1,
  created_at             TEXT NOT NULL,
  updated_at             TEXT NOT NULL
);
CREATE INDEX IF NOT EXISTS webhook_endpoints_account ON webhook_endpoints(account_id, created_at, id);

-- One inbound post and what became of it: queued → executing → succeeded | failed (the Execution's
-- outcome) → delivered (the callback answered 2xx) | dead (every attempt failed; it went to the
-- dead-letter queue). execution_id is chosen when the post is accepted, so a message the queue delivers
-- twice, or a consumer that dies mid-message, still ends with one Execution. The idempotency key makes a
-- retried post return the first delivery; request_sha256 tells a retry from a different post.
CREATE TABLE IF NOT EXISTS webhook_deliveries (
  id               TEXT PRIMARY KEY,
  account_id       TEXT NOT NULL REFERENCES accounts(id) ON DELETE CASCADE,
  endpoint_id      TEXT NOT NULL REFERENCES webhook_endpoints(id) ON DELETE CASCADE,
  idempotency_key  TEXT,
  request_sha256   TEXT NOT NULL,
  input            TEXT NOT NULL,
  conversation_id  TEXT,
  metadata_json    TEXT NOT NULL DEFAULT '{}',
  status           TEXT NOT NULL CHECK (status IN ('queued', 'executing', 'succeeded', 'failed', 'delivered', 'dead')),
  execution_id     TEXT NOT NULL,
  outcome          TEXT CHECK (outcome IN ('succeeded', 'failed')), -- set once executed; kept when dead
  attempts         INTEGER NOT NULL DEFAULT 0,
  last_error       TEXT,
  callback_status  INTEGER,
  created_at       TEXT NOT NULL,
  updated_at       TEXT NOT NULL,
  executed_at      TEXT,
  delivered_at     TEXT,
  UNIQUE (endpoint_id, idempotency_key)
);
CREATE INDEX IF NOT EXISTS webhook_deliveries_endpoint ON webhook_deliveries(endpoint_id, created_at, id);
