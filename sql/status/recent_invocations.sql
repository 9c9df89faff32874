-- The most recent pipewatch invocations, with their stages, for pipewatch status.
-- Grain: one row per invocation (run_id), newest first.
-- Params: $1 how many invocations. Read only: a stage still marked running whose invocation has
-- no live session (see run_log/mark_abandoned.sql) is shown as abandoned.
WITH stage AS (
    SELECT l.*,
           CASE WHEN l.outcome = 'running'
                     AND NOT EXISTS (SELECT 1 FROM pg_stat_activity AS a
                                     WHERE a.application_name = 'pipewatch ' || l.run_id::text)
                THEN 'abandoned' ELSE l.outcome END AS shown_outcome
    FROM pipewatch_run_log AS l
    WHERE l.run_id IN (SELECT run_id FROM pipewatch_run_log
                       GROUP BY run_id ORDER BY max(run_log_id) DESC LIMIT $1::bigint)
)
SELECT run_id::text AS run_id,
       min(command)                                    AS command,
       min(started_at)                                 AS started_at,
       max(ended_at)                                   AS ended_at,
       CASE WHEN bool_or(shown_outcome = 'failed') THEN 'failed'
            WHEN bool_or(shown_outcome = 'abandoned') THEN 'abandoned'
            WHEN bool_or(shown_outcome = 'running') THEN 'running'
            WHEN bool_or(shown_outcome = 'checks_failed') THEN 'checks_failed'
            ELSE 'succeeded' END                       AS outcome,
       jsonb_agg(jsonb_build_object(
           'stage', stage,
           'airflow_instance', airflow_instance,
           'outcome', shown_outcome,
           'rows_read', rows_read,
           'rows_written', rows_written,
           'task_rows_read', task_rows_read,
           'task_rows_written', task_rows_written,
           'seconds', round(duration_seconds::numeric, 3),
           'error', error_message) ORDER BY run_log_id)::text AS stages
FROM stage
GROUP BY run_id
ORDER BY min(run_log_id) DESC
