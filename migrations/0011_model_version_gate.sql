-- The promotion gate's record on each model version (functions/promotionGate.ts): its decision, with
-- the figures and the reason (gate_json), and who activated the version — the gate, or an admin by hand
-- (NULL: activated when it was published, before any gate ran, e.g. `npm start`'s default).
ALTER TABLE model_versions ADD COLUMN gate_decision TEXT CHECK (gate_decision IN ('promoted', 'rejected'));
ALTER TABLE model_versions ADD COLUMN gate_json TEXT;
ALTER TABLE model_versions ADD COLUMN gated_at TEXT;
ALTER TABLE model_versions ADD COLUMN activated_by TEXT CHECK (activated_by IN ('gate', 'admin'));
