-- Outcomes a person settles (tools/ledger.py). A side-effecting call that timed out, lost
-- its connection or was cancelled mid-call is "unknown" (never "failed": it may have taken
-- effect); one found "started" on resume died mid-call. Either waits for a person's answer
-- to "did this happen?": done (-> completed), retry (-> started again), skip (-> skipped).
-- A new call repeating an unresolved one (same tool and arguments) is "held" until answered.
-- `decisions` lists every answer given for the row, in order: who, which, when.
ALTER TABLE tool_ledger DROP CONSTRAINT IF EXISTS tool_ledger_status_check;
ALTER TABLE tool_ledger ADD CONSTRAINT tool_ledger_status_check CHECK (
    status IN ('started', 'completed', 'failed', 'unknown', 'held', 'skipped')
);
ALTER TABLE tool_ledger ADD COLUMN IF NOT EXISTS unknown_reason text;
ALTER TABLE tool_ledger ADD COLUMN IF NOT EXISTS repeat_of text;
ALTER TABLE tool_ledger ADD COLUMN IF NOT EXISTS decisions jsonb NOT NULL DEFAULT '[]'::jsonb;
CREATE INDEX IF NOT EXISTS tool_ledger_unresolved ON tool_ledger (task_id, tool, args_hash)
    WHERE status IN ('started', 'unknown');
