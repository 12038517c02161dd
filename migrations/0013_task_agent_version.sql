-- Bumped by every update of the row (functions/tasks.ts, functions/agents.ts). An isolate that answers an
-- execution from the task and agent it remembers writes the Execution only if both versions (and the
-- task's examples_version and the active model version) are still the ones it used, so a change made
-- through another isolate is never hidden by this one's cache (functions/executions.ts). updated_at is
-- not enough: two updates can share a millisecond.
ALTER TABLE tasks ADD COLUMN version INTEGER NOT NULL DEFAULT 0;
ALTER TABLE agents ADD COLUMN version INTEGER NOT NULL DEFAULT 0;
