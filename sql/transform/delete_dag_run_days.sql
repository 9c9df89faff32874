-- Removes the DAG-run model rows of the days about to be recomputed (or of every day), in the
-- transform's transaction: readers keep seeing the old rows until it commits.
-- Grain: deletes rows of dag_history_daily, dag_success_daily, dag_runtime_daily, task_daily
-- and dag_delay_daily (all keyed by instance and DAG-run day).
-- Params: $1 text[] instances and $2 date[] days, $3 boolean: every day instead.
WITH pending AS (
    SELECT * FROM unnest($1::text[], $2::date[]) AS p (airflow_instance, day)
),
history AS (
    DELETE FROM dag_history_daily AS d
    WHERE $3::boolean
       OR (d.airflow_instance, d.execution_date) IN (SELECT airflow_instance, day FROM pending)
),
success AS (
    DELETE FROM dag_success_daily AS d
    WHERE $3::boolean
       OR (d.airflow_instance, d.day) IN (SELECT airflow_instance, day FROM pending)
),
tasks AS (
    DELETE FROM task_daily AS d
    WHERE $3::boolean
       OR (d.airflow_instance, d.day) IN (SELECT airflow_instance, day FROM pending)
),
delays AS (
    DELETE FROM dag_delay_daily AS d
    WHERE $3::boolean
       OR (d.airflow_instance, d.day) IN (SELECT airflow_instance, day FROM pending)
)
DELETE FROM dag_runtime_daily AS d
WHERE $3::boolean
   OR (d.airflow_instance, d.day) IN (SELECT airflow_instance, day FROM pending)
