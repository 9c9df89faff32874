-- Removes the DAG-run model rows of the days about to be recomputed, in the transform's
-- transaction: readers keep seeing the old rows until it commits. Each model is joined to the
-- days on its key prefix (airflow_instance, day), so a few days are found by index, not by a
-- scan of the model (task_daily holds a row per task and day: 43 ms to scan 420,000 rows for one
-- day). A full refresh uses delete_all_dag_run_days.sql instead.
-- Grain: deletes rows of dag_history_daily, dag_success_daily, dag_runtime_daily, task_daily,
-- task_cost_daily and dag_delay_daily (all keyed by instance and DAG-run day).
-- Params: $1 text[] instances and $2 date[] days (pairs).
WITH pending AS MATERIALIZED (
    SELECT DISTINCT * FROM unnest($1::text[], $2::date[]) AS p (airflow_instance, day)
),
history AS (
    DELETE FROM dag_history_daily AS d USING pending AS p
    WHERE d.airflow_instance = p.airflow_instance AND d.execution_date = p.day
),
success AS (
    DELETE FROM dag_success_daily AS d USING pending AS p
    WHERE d.airflow_instance = p.airflow_instance AND d.day = p.day
),
tasks AS (
    DELETE FROM task_daily AS d USING pending AS p
    WHERE d.airflow_instance = p.airflow_instance AND d.day = p.day
),
delays AS (
    DELETE FROM dag_delay_daily AS d USING pending AS p
    WHERE d.airflow_instance = p.airflow_instance AND d.day = p.day
),
costs AS (
    DELETE FROM task_cost_daily AS d USING pending AS p
    WHERE d.airflow_instance = p.airflow_instance AND d.day = p.day
)
DELETE FROM dag_runtime_daily AS d USING pending AS p
WHERE d.airflow_instance = p.airflow_instance AND d.day = p.day
