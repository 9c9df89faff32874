-- Migration 0007: pipewatch_run_log says how a stage really ended, matching the exit code.
-- Grain: one row per (invocation, stage[, Airflow instance]), as in 0003. Params: none.
-- Applied with search_path set to pipewatch's schema.
-- Before: a stage that ran and found what it checked not to hold (a failed `halt` validation
-- test, a reconcile difference; exit code 1) was recorded as `succeeded`, and a stage whose
-- process was killed stayed `running` forever. Now: succeeded (ran clean, exit 0),
-- checks_failed (ran, and found failures, exit 1), failed (could not do its work, exit 3),
-- abandoned (its process ended without recording the end: killed, or its connection lost).
-- Widening a varchar and replacing a CHECK constraint rewrite no rows.

ALTER TABLE pipewatch_run_log ALTER COLUMN outcome TYPE varchar(16);
ALTER TABLE pipewatch_run_log DROP CONSTRAINT pipewatch_run_log_outcome_check;
ALTER TABLE pipewatch_run_log ADD CONSTRAINT pipewatch_run_log_outcome_check
    CHECK (outcome IN ('running', 'succeeded', 'checks_failed', 'failed', 'abandoned'));

-- Finding the stages still marked running (to tell live ones from abandoned ones) stays cheap
-- however long the log is.
CREATE INDEX pipewatch_run_log_running_idx ON pipewatch_run_log (run_id) WHERE outcome = 'running';

COMMENT ON COLUMN pipewatch_run_log.outcome IS
    'How the stage ended: running (not ended yet), succeeded (did its work and everything it checked held; exit code 0), checks_failed (did its work and found failures: a halt validation test failed or reconcile found a difference; exit code 1), failed (could not do its work; exit code 3; error_message says why), abandoned (its process ended without recording the end, killed or cut off; set by a later pipewatch invocation that found no live session of this run id).';
COMMENT ON COLUMN pipewatch_run_log.error_message IS
    'Why the stage failed (outcome failed), what it found (outcome checks_failed), or why it was marked abandoned; NULL when it succeeded or is running.';
