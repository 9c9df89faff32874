-- Benchmark state for expected runs (issue 26), written straight into schema :schema of the
-- warehouse, for `scripts/bench schedule`: a catalogue of :dags DAGs read last at :'read_at',
-- first seen :days days before, one history span each (1 in 50 with a two-day pause in the
-- middle); 1 in 3 DAGs hourly (half of them in Europe/Berlin, half in UTC), the others daily at
-- 02:00 UTC. Their runs: benches/warehouse_schedule_runs.sql.
-- Grain: one dag_catalog and one to three dag_catalog_history rows per DAG. Params: psql
-- variables schema, dags, days, read_at.
INSERT INTO :schema.dag_catalog (
    airflow_instance, dag_id, is_paused, is_stale, has_import_errors, owners, tags, schedule,
    schedule_description, max_active_runs, fileloc, in_airflow, first_seen_at, last_seen_at,
    read_at, loaded_by_run_id, timetable_kind, timetable_expression, time_zone,
    timetable_source_key)
SELECT 'default', 'dag_' || lpad(n::text, 6, '0'), false, false, false,
       ARRAY['team_' || (n % 40)], ARRAY['tier_' || (n % 3)],
       CASE WHEN n % 3 = 0 THEN '0 * * * *' ELSE '0 2 * * *' END, NULL, 16,
       '/dags/file_' || (n / 4) || '.py', true,
       :'read_at'::timestamptz - :days * interval '1 day', :'read_at'::timestamptz,
       :'read_at'::timestamptz, '00000000-0000-0000-0000-000000000000', 'cron',
       CASE WHEN n % 3 = 0 THEN '0 * * * *' ELSE '0 2 * * *' END,
       CASE WHEN n % 6 = 0 THEN 'Europe/Berlin' ELSE 'UTC' END, md5(n::text)
FROM generate_series(1, :dags) AS n;

-- One span each; a DAG in 50 paused for two days in the middle (three spans).
INSERT INTO :schema.dag_catalog_history (
    airflow_instance, dag_id, valid_from, valid_to, is_paused, is_stale, has_import_errors,
    owners, tags, schedule, max_active_runs, fileloc, in_airflow, recorded_by_run_id,
    timetable_kind, timetable_expression, time_zone)
SELECT c.airflow_instance, c.dag_id, s.valid_from, s.valid_to, s.paused, false, false, c.owners,
       c.tags, c.schedule, 16, c.fileloc, true, c.loaded_by_run_id, 'cron',
       c.timetable_expression, c.time_zone
FROM :schema.dag_catalog AS c
CROSS JOIN LATERAL (
    SELECT c.first_seen_at AS valid_from, NULL::timestamptz AS valid_to, false AS paused
    WHERE right(c.dag_id, 2) <> '50'
    UNION ALL
    SELECT * FROM (VALUES
        (c.first_seen_at, c.first_seen_at + (:days / 2) * interval '1 day', false),
        (c.first_seen_at + (:days / 2) * interval '1 day',
         c.first_seen_at + (:days / 2 + 2) * interval '1 day', true),
        (c.first_seen_at + (:days / 2 + 2) * interval '1 day', NULL, false)) AS v(f, t, p)
    WHERE right(c.dag_id, 2) = '50'
) AS s;
