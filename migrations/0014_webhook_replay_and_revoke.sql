-- A signed inbound post is single-use: signed_sha256 is the SHA-256 of the bytes its signature covers
-- ("<timestamp>.<raw body>"), so the same signed post arriving again (a replay, with or without an
-- Idempotency-Key, which the signature does not cover) finds the first delivery instead of executing
-- again. Rows from before this column have NULL, which a unique index never counts as a duplicate.
ALTER TABLE webhook_deliveries ADD COLUMN signed_sha256 TEXT;
CREATE UNIQUE INDEX IF NOT EXISTS webhook_deliveries_signed ON webhook_deliveries(endpoint_id, signed_sha256);

-- When the previous signing secret stops verifying, chosen at each rotation (0 s: at once). NULL on rows
-- rotated before this column: they keep the fixed 24 h grace from secret_rotated_at.
ALTER TABLE webhook_endpoints ADD COLUMN previous_secret_expires_at TEXT;
