-- Benchmark source: :rows realistic Airflow 2 dag_run rows (200 hourly DAGs, about 4% failed,
-- runtimes from 30 s to 10 min, the newest few still queued or running), for scripts/bench.
-- Each DAG has one version: dag_hash is md5 of its dag_id (benches/airflow2_graphs.sql writes
-- the serialized DAG of that version).
-- Grain: one row per DAG run. Params: psql variable rows (how many), first_id (ids start here).
-- Requires the dag_run table of tests/fixtures/airflow/dag_run_airflow2.sql.
INSERT INTO dag_run (id, dag_id, queued_at, execution_date, start_date, end_date, state, run_id,
                     creating_job_id, external_trigger, run_type, conf, data_interval_start,
                     data_interval_end, last_scheduling_decision, dag_hash, log_template_id,
                     updated_at, clear_number)
SELECT n,
       'dag_' || lpad((n % 200)::text, 3, '0') || '_'
           || (ARRAY['ingest_events', 'transform_orders', 'export_finance', 'report_daily'])[1 + n % 4],
       ts + interval '1 hour' - interval '5 seconds',
       ts,
       ts + interval '1 hour',
       CASE WHEN n > :rows + :first_id - 5 THEN NULL
            ELSE ts + interval '1 hour' + (30 + (n::bigint * 7919) % 570) * interval '1 second' END,
       CASE WHEN n > :rows + :first_id - 3 THEN 'queued'
            WHEN n > :rows + :first_id - 5 THEN 'running'
            WHEN (n::bigint * 7919) % 97 < 4 THEN 'failed'
            ELSE 'success' END,
       'scheduled__' || to_char(ts AT TIME ZONE 'UTC', 'YYYY-MM-DD"T"HH24:MI:SS') || '+00:00',
       n % 1000,
       false,
       'scheduled',
       '\x80049505000000000000007d942e'::bytea,
       ts,
       ts + interval '1 hour',
       ts + interval '1 hour 1 minute',
       md5('dag_' || lpad((n % 200)::text, 3, '0') || '_'
           || (ARRAY['ingest_events', 'transform_orders', 'export_finance', 'report_daily'])[1 + n % 4])::varchar(32),
       1,
       ts + interval '1 hour 15 minutes',
       0
FROM (SELECT n, timestamptz '2021-01-01' + (n / 200) * interval '1 hour' + (n % 200) * interval '1 second' AS ts
      FROM generate_series(:first_id, :first_id + :rows - 1) AS n) AS s;
SELECT setval('dag_run_id_seq', (SELECT max(id) FROM dag_run));
