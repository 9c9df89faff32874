-- Demo data for an Airflow 2 metadata database: the DAG catalogue of the demo's DAGs (dag,
-- dag_tag, import_error, job, serialized_dag), so pipewatch's dag_catalog has something to show: four DAGs with
-- owners, tags and schedules, one of them (weekly_finance_report) paused, one DAG file
-- (dags/marketing_attribution.py) that fails to import, and a scheduler and a DAG processor
-- that heartbeat now (scripts/demo beats them again before each run).
-- Grain: one row per DAG, tag, import error and job. Params: none; times are relative to now().
-- Requires the tables of tests/fixtures/airflow/catalog_airflow2.sql.
INSERT INTO dag (dag_id, is_paused, is_active, owners, schedule_interval, timetable_description,
                 fileloc, max_active_runs, max_active_tasks, max_consecutive_failed_dag_runs,
                 has_task_concurrency_limits, has_import_errors, next_dagrun,
                 next_dagrun_create_after, last_parsed_time)
VALUES
    ('hourly_ingest_events', false, true, 'data-eng', '"0 * * * *"', 'At minute 0',
     '/opt/airflow/dags/ingest.py', 1, 16, 0, false, false, date_trunc('hour', now()),
     date_trunc('hour', now()) + interval '1 hour', now() - interval '30 seconds'),
    ('daily_orders_etl', false, true, 'data-eng, finance', '"0 2 * * *"', 'At 02:00',
     '/opt/airflow/dags/orders.py', 1, 16, 0, false, false,
     date_trunc('day', now()) + interval '2 hours',
     date_trunc('day', now()) + interval '1 day 2 hours', now() - interval '30 seconds'),
    ('ml_feature_build', false, true, 'ml-platform', '"0 5 * * *"', 'At 05:00',
     '/opt/airflow/dags/ml.py', 1, 16, 0, false, false,
     date_trunc('day', now()) + interval '5 hours',
     date_trunc('day', now()) + interval '1 day 5 hours', now() - interval '30 seconds'),
    ('weekly_finance_report', true, true, 'finance', '"@weekly"', 'At 00:00, only on Sunday',
     '/opt/airflow/dags/finance.py', 1, 16, 0, false, false, date_trunc('week', now()),
     date_trunc('week', now()) + interval '7 days', now() - interval '30 seconds'),
    ('marketing_attribution', false, true, 'marketing', '"@daily"', 'At 00:00',
     '/opt/airflow/dags/marketing_attribution.py', 1, 16, 0, false, true, NULL, NULL,
     now() - interval '2 days');

INSERT INTO dag_tag (name, dag_id)
VALUES ('ingest', 'hourly_ingest_events'), ('sales', 'daily_orders_etl'),
       ('finance', 'daily_orders_etl'), ('ml', 'ml_feature_build'),
       ('finance', 'weekly_finance_report'), ('marketing', 'marketing_attribution');

INSERT INTO import_error (timestamp, filename, stacktrace)
VALUES (now() - interval '5 minutes', '/opt/airflow/dags/marketing_attribution.py',
        E'Traceback (most recent call last):\n  File "/opt/airflow/dags/marketing_attribution.py", line 7, in <module>\n    from attribution.models import last_touch\nModuleNotFoundError: No module named ''attribution''\n');

INSERT INTO job (dag_id, state, job_type, start_date, latest_heartbeat, executor_class, hostname,
                 unixname)
VALUES (NULL, 'running', 'SchedulerJob', now() - interval '3 days', now(), 'LocalExecutor',
        'scheduler-1', 'airflow'),
       (NULL, 'running', 'DagProcessorJob', now() - interval '3 days', now(), NULL,
        'scheduler-1', 'airflow');

-- The serialized DAGs' time zones and timetables (the keys pipewatch reads, in the shape
-- Airflow 2.10 writes them: a cron schedule's timetable, a preset as schedule_interval), so
-- the demo's dag_schedule_daily expands the schedules into expected runs.
INSERT INTO serialized_dag (dag_id, fileloc, fileloc_hash, data, last_updated, dag_hash)
SELECT d.dag_id, d.fileloc, 0,
       json_build_object('__version', 1, 'dag', json_build_object(
           'dag_id', d.dag_id, 'timezone', 'UTC', 'start_date', 1704067200.0,
           'timetable', CASE WHEN d.schedule_interval LIKE '"@%' THEN NULL
                             ELSE json_build_object(
                                 '__type', 'airflow.timetables.interval.CronDataIntervalTimetable',
                                 '__var', json_build_object(
                                     'expression', trim(both '"' FROM d.schedule_interval),
                                     'timezone', 'UTC')) END)),
       now(), md5(d.dag_id || d.schedule_interval)
FROM dag AS d;
