-- For a full refresh: every (instance, day) that has DAG runs, from refresh_run (filled by
-- full_refresh_runs.sql in the same transaction).
-- Grain: one row per (airflow_instance, day). Params: none.
SELECT DISTINCT airflow_instance, day FROM refresh_run
