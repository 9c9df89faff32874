-- How long ago an instance's DAG catalogue was last read successfully (the catalog stage of the
-- run log, this machine's clock), for [extract] catalog_interval_minutes.
-- Grain: one row. Params: $1 airflow_instance.
-- Returns: seconds_ago, NULL when it was never read.
SELECT extract(epoch FROM now() - max(ended_at))::double precision AS seconds_ago
FROM pipewatch_run_log
WHERE stage = 'catalog' AND airflow_instance = $1::text AND outcome = 'succeeded'
