-- The Airflow clock of the newest extract loaded for an instance: reconcile counts source runs
-- changed up to then.
-- Grain: zero or one row. Params: $1 airflow_instance.
SELECT last_source_read_at FROM extract_watermark WHERE airflow_instance = $1::text
