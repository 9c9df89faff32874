-- DAG runs in the warehouse (pipewatch's schema is named explicitly: validation scripts run
-- with the server's default search_path).
SELECT count(*) FROM pipewatch.dag_run_history
