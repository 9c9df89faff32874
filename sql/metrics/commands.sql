-- pipewatch's own commands, for the Prometheus metrics: when each command last succeeded, how
-- long that invocation took, and when one last failed.
-- Grain: one row per command pipewatch_run_log knows. Params: none.
-- An invocation is the rows of one run_id; it succeeded when every stage it recorded succeeded
-- and failed when one failed or was abandoned (checks_failed is neither: it ran and reported).
-- Its time is its last stage's end. Read only.
WITH invocation AS (
    SELECT run_id,
           min(command)                                  AS command,
           max(run_log_id)                               AS last_row,
           min(started_at)                               AS started_at,
           max(ended_at)                                 AS ended_at,
           bool_and(outcome = 'succeeded')               AS succeeded,
           bool_or(outcome IN ('failed', 'abandoned'))   AS failed
    FROM pipewatch_run_log
    GROUP BY run_id
)
SELECT i.command,
       max(i.ended_at) FILTER (WHERE i.succeeded)          AS last_success_at,
       (array_agg(extract(epoch FROM i.ended_at - i.started_at)::float8 ORDER BY i.last_row DESC)
            FILTER (WHERE i.succeeded))[1]                 AS last_success_seconds,
       max(coalesce(i.ended_at, i.started_at)) FILTER (WHERE i.failed) AS last_failure_at
FROM invocation AS i
GROUP BY i.command
ORDER BY i.command
