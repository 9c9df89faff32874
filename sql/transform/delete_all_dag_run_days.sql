-- For a full refresh: removes every row of the DAG-run models, in the transform's transaction
-- (no TRUNCATE: readers keep seeing the old rows until it commits, and take no lock).
-- Grain: deletes all rows of dag_history_daily, dag_success_daily, dag_runtime_daily, task_daily,
-- task_cost_daily and dag_delay_daily. Params: none.
WITH history AS (DELETE FROM dag_history_daily),
     success AS (DELETE FROM dag_success_daily),
     tasks AS (DELETE FROM task_daily),
     delays AS (DELETE FROM dag_delay_daily),
     costs AS (DELETE FROM task_cost_daily)
DELETE FROM dag_runtime_daily
