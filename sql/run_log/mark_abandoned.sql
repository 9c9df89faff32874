-- Marks as abandoned the stages still recorded as running whose invocation is gone: no session
-- of the warehouse's server carries its application_name ('pipewatch <run_id>', set by every
-- pipewatch connection), so its process was killed or lost its connection before recording how
-- the stage ended. An invocation that is only reconnecting and then finishes its stage
-- overwrites this with its real outcome.
-- Grain: updates the pipewatch_run_log rows (one per stage) still marked running with no live
-- session of their run id. Params: none.
UPDATE pipewatch_run_log AS l
SET outcome = 'abandoned',
    error_message = 'abandoned: no session of this invocation was connected to the warehouse when a later pipewatch looked at '
        || to_char(clock_timestamp() AT TIME ZONE 'UTC', 'YYYY-MM-DD HH24:MI:SS') || ' UTC; the process was killed or lost its connection before recording how the stage ended'
WHERE l.outcome = 'running'
  AND NOT EXISTS (SELECT 1
                  FROM pg_stat_activity AS a
                  WHERE a.application_name = 'pipewatch ' || l.run_id::text)
