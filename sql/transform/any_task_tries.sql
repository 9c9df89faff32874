-- For a full refresh: whether any task try was loaded (without one, the first-task delays are
-- all NULL and full_refresh_dag_models.sql skips looking for them).
-- Grain: one row. Params: none. Returns: any_tries boolean.
SELECT EXISTS (SELECT FROM task_run_history) AS any_tries
