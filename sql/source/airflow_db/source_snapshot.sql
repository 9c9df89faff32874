-- The Airflow database's clock and highest dag_run id, at the start of an extract's snapshot.
-- Grain: one row. Params: none. max(id) reads the end of the primary key index.
SELECT now() AS source_now, max(id) AS max_id FROM dag_run
