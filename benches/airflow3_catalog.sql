-- Benchmark data: a DAG catalogue of :dags DAGs in a real Airflow 3 metadata database (dag,
-- dag_tag, import_error), for the REST API part of `scripts/bench api`: hourly and daily cron
-- schedules, 2 owners and 3 tags each, 1 in 50 paused, 1 in 100 failing to import.
-- Grain: one row per DAG, tag and import error. Params: psql variable dags.
-- Requires a migrated Airflow 3.3 metadata database (its dag_bundle gets 'dags-folder').
INSERT INTO dag_bundle (name, active) VALUES ('dags-folder', true) ON CONFLICT DO NOTHING;

INSERT INTO dag (dag_id, is_paused, is_stale, owners, timetable_summary, timetable_description,
                 fileloc, relative_fileloc, bundle_name, timetable_type, partition_mapper_info,
                 max_active_runs, max_active_tasks, max_consecutive_failed_dag_runs,
                 has_task_concurrency_limits, has_import_errors, next_dagrun,
                 next_dagrun_create_after, last_parsed_time)
SELECT 'bench_dag_' || lpad(n::text, 6, '0'), n % 50 = 0, false, 'team_' || (n % 40) || ', oncall',
       CASE WHEN n % 3 = 0 THEN '0 * * * *' ELSE '0 2 * * *' END,
       CASE WHEN n % 3 = 0 THEN 'At minute 0' ELSE 'At 02:00' END,
       '/opt/airflow/dags/file_' || (n / 4) || '.py', 'file_' || (n / 4) || '.py', 'dags-folder',
       'CronTriggerTimetable', '{}', 1, 16, 0, false, n % 100 = 0,
       date_trunc('hour', now()), date_trunc('hour', now()) + interval '1 hour', now()
FROM generate_series(1, :dags) AS n;

INSERT INTO dag_tag (name, dag_id)
SELECT tag, 'bench_dag_' || lpad(n::text, 6, '0')
FROM generate_series(1, :dags) AS n,
     LATERAL (VALUES ('team_' || (n % 40)), ('tier_' || (n % 3)), ('domain_' || (n % 7))) AS t(tag);

INSERT INTO import_error (timestamp, filename, bundle_name, stacktrace)
SELECT now(), 'file_' || (n / 4) || '.py', 'dags-folder',
       'Traceback (most recent call last):' || E'\n' || repeat('  File "x.py", line 1' || E'\n', 180)
           || 'ImportError: cannot import name ' || n
FROM generate_series(1, :dags) AS n
WHERE n % 100 = 0;
