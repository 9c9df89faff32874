-- For a full refresh: the transaction's table of every DAG run with its day and the per-run
-- figures the DAG-run models aggregate (filled by full_refresh_runs.sql), dropped at commit.
-- Grain: one row per DAG run. Params: none.
CREATE TEMPORARY TABLE refresh_run (
    airflow_instance               text,
    day                            date,
    dag_id                         text,
    state                          text,
    runtime_seconds                double precision,
    queue_seconds                  double precision,
    schedule_delay_seconds         double precision,
    landing_seconds                double precision,
    first_task_start_delay_seconds double precision
) ON COMMIT DROP
