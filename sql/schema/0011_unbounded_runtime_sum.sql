-- Migration 0011: dag_history_daily.runtime_seconds without a precision limit.
-- numeric(14, 4) held at most 9,999,999,999.9999 seconds (317 years) per (day, DAG, state): one
-- run with an absurd end_date (Airflow accepts year 10000) made the sum overflow, and the whole
-- transform (every model, every day) failed on that row. The column keeps its meaning (total
-- seconds, rounded to 4 decimals by the transform) and type family; PostgreSQL changes the
-- typmod without rewriting the table.
-- Grain: one row per (airflow_instance, execution_date, dag_id, dag_state), unchanged.
-- Params: none. Applied with search_path set to pipewatch's schema.
ALTER TABLE dag_history_daily ALTER COLUMN runtime_seconds TYPE numeric;
COMMENT ON COLUMN dag_history_daily.runtime_seconds IS
    'Total runtime in seconds (end_date - start_date) of the group''s finished runs that have both dates, rounded to 4 decimals; NULL when none has. Average = runtime_seconds / runtime_run_count.';
