-- The most recent pipewatch invocations, with their stages, for pipewatch status.
-- Grain: one row per invocation (run_id), newest first.
-- Params: $1 how many invocations.
SELECT run_id::text AS run_id,
       min(command)                                    AS command,
       min(started_at)                                 AS started_at,
       max(ended_at)                                   AS ended_at,
       CASE WHEN bool_or(outcome = 'failed') THEN 'failed'
            WHEN bool_or(outcome = 'running') THEN 'running'
            ELSE 'succeeded' END                       AS outcome,
       jsonb_agg(jsonb_build_object(
           'stage', stage,
           'airflow_instance', airflow_instance,
           'outcome', outcome,
           'rows_read', rows_read,
           'rows_written', rows_written,
           'seconds', round(duration_seconds::numeric, 3),
           'error', error_message) ORDER BY run_log_id)::text AS stages
FROM pipewatch_run_log
WHERE run_id IN (SELECT run_id FROM pipewatch_run_log
                 GROUP BY run_id ORDER BY max(run_log_id) DESC LIMIT $1::bigint)
GROUP BY run_id
ORDER BY min(run_log_id) DESC
