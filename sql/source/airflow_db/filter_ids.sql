-- Filter appended to dag_runs_airflow*.sql: only the runs whose ids were selected (by
-- incremental_ids.sql and changed_ids.sql, in the same snapshot). An id lookup on the primary key.
-- Grain: one row per selected DAG run.
-- Params: setting pipewatch.extract_ids (an integer[] as text), set with set_config($1).
WHERE dr.id = ANY (current_setting('pipewatch.extract_ids')::integer[])
