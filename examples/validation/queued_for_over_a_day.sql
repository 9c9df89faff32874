-- Runs queued in Airflow for more than a day (runs against the Airflow metadata database).
SELECT count(*) FROM dag_run WHERE state = 'queued' AND queued_at < now() - interval '1 day'
