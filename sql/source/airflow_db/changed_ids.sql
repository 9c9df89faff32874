-- Which dag_run rows Airflow changed since a time: catches runs cleared and re-run between two
-- extracts. updated_at has no index in Airflow, so this reads the whole table; it runs only every
-- [extract] changed_runs_scan_interval_minutes.
-- Grain: one row per dag_run id. Params: $1 timestamptz: rows updated after this.
SELECT id FROM dag_run WHERE updated_at > $1::timestamptz
