-- Whether the warehouse holds any run of an Airflow instance (primary key prefix lookup), and
-- any run at all (an empty dag_run_history can take the bulk first load).
-- Grain: one row. Params: $1 airflow_instance.
SELECT EXISTS (SELECT 1 FROM dag_run_history WHERE airflow_instance = $1::text) AS has_rows,
       EXISTS (SELECT 1 FROM dag_run_history) AS table_has_rows
