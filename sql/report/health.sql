-- pipewatch's own health for the report: per Airflow instance, when its newest loaded extract
-- read Airflow (its lag is now minus that), and its latest reconcile; plus the latest
-- successful load and transform of any instance.
-- Grain: one row per Airflow instance with a watermark. Params: $1 airflow_instance or NULL.
SELECT w.airflow_instance,
       w.last_source_read_at,
       extract(epoch FROM now() - w.last_source_read_at)::double precision AS lag_seconds,
       rc.outcome       AS reconcile_outcome,
       rc.ended_at      AS reconcile_at,
       rc.error_message AS reconcile_message,
       (SELECT max(ended_at) FROM pipewatch_run_log
        WHERE stage = 'load' AND outcome = 'succeeded')      AS last_load_at,
       (SELECT max(ended_at) FROM pipewatch_run_log
        WHERE stage = 'transform' AND outcome = 'succeeded') AS last_transform_at
FROM extract_watermark AS w
LEFT JOIN LATERAL (
    SELECT outcome, ended_at, error_message
    FROM pipewatch_run_log AS l
    WHERE l.stage = 'reconcile' AND l.airflow_instance = w.airflow_instance
    ORDER BY l.started_at DESC
    LIMIT 1
) AS rc ON true
WHERE $1::text IS NULL OR w.airflow_instance = $1::text
ORDER BY w.airflow_instance
