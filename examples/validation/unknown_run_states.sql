-- DAG runs whose state is none of Airflow's four.
SELECT count(*)
FROM pipewatch.dag_run_history
WHERE state NOT IN ('queued', 'running', 'success', 'failed')
