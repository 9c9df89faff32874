-- Benchmark data: a DAG catalogue of :dags DAGs in an Airflow 2 metadata database (dag, dag_tag,
-- import_error, serialized_dag), for `scripts/bench catalog`: hourly and daily cron schedules, 2
-- owners and 3 tags each, 1 in 50 paused, 1 in 100 failing to import with a 4 KB stack trace,
-- an 8 KB serialized DAG each (1 in 10 in Europe/Berlin).
-- Grain: one row per DAG, tag and import error. Params: psql variable dags.
-- Requires the tables of tests/fixtures/airflow/catalog_airflow2.sql.
INSERT INTO dag (dag_id, is_paused, is_active, owners, schedule_interval, timetable_description,
                 fileloc, max_active_runs, max_active_tasks, max_consecutive_failed_dag_runs,
                 has_task_concurrency_limits, has_import_errors, next_dagrun,
                 next_dagrun_create_after, last_parsed_time)
SELECT 'dag_' || lpad(n::text, 6, '0'), n % 50 = 0, true, 'team_' || (n % 40) || ', oncall',
       CASE WHEN n % 3 = 0 THEN '"0 * * * *"' ELSE '"0 2 * * *"' END,
       CASE WHEN n % 3 = 0 THEN 'At minute 0' ELSE 'At 02:00' END,
       '/opt/airflow/dags/file_' || (n / 4) || '.py', 1, 16, 0, false, n % 100 = 0,
       date_trunc('hour', now()), date_trunc('hour', now()) + interval '1 hour', now()
FROM generate_series(1, :dags) AS n;

INSERT INTO dag_tag (name, dag_id)
SELECT tag, 'dag_' || lpad(n::text, 6, '0')
FROM generate_series(1, :dags) AS n,
     LATERAL (VALUES ('team_' || (n % 40)), ('tier_' || (n % 3)), ('domain_' || (n % 7))) AS t(tag);

INSERT INTO import_error (timestamp, filename, stacktrace)
SELECT now(), '/opt/airflow/dags/file_' || (n / 4) || '.py',
       'Traceback (most recent call last):' || E'\n' || repeat('  File "x.py", line 1' || E'\n', 180)
           || 'ImportError: cannot import name ' || n
FROM generate_series(1, :dags) AS n
WHERE n % 100 = 0;

-- Each DAG's serialized DAG, about 8 KB as Airflow 2.10 writes it for a DAG of 20 tasks: the
-- timetable and time zone pipewatch reads, and the tasks it does not.
INSERT INTO serialized_dag (dag_id, fileloc, fileloc_hash, data, last_updated, dag_hash)
SELECT d.dag_id, d.fileloc, 0,
       json_build_object('__version', 1, 'dag', json_build_object(
           '_dag_id', d.dag_id,
           'timezone', CASE WHEN right(d.dag_id, 1) = '7' THEN 'Europe/Berlin' ELSE 'UTC' END,
           'start_date', 1704067200.0,
           'timetable', json_build_object(
               '__type', 'airflow.timetables.interval.CronDataIntervalTimetable',
               '__var', json_build_object(
                   'expression', trim(both '"' FROM d.schedule_interval),
                   'timezone', CASE WHEN right(d.dag_id, 1) = '7' THEN 'Europe/Berlin'
                                    ELSE 'UTC' END)),
           'tasks', (SELECT json_agg(json_build_object(
                         '__type', 'operator', '__var', json_build_object(
                             'task_id', 'task_' || t, '_task_type', 'BashOperator',
                             '_task_module', 'airflow.operators.bash',
                             'bash_command', 'python -m etl.step --name ' || t || ' --retries 3',
                             'downstream_task_ids', json_build_array('task_' || (t + 1)),
                             'pool', 'default_pool', 'retries', 3, 'owner', d.owners,
                             'ui_color', '#f0ede4', 'template_fields', json_build_array('bash_command', 'env'))))
                     FROM generate_series(1, 20) AS t))),
       now(), md5(d.dag_id)
FROM dag AS d;
