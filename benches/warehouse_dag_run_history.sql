-- Benchmark history for the transform: :rows DAG runs spread evenly over the 3 years before
-- :last_day (200 DAGs, ~4% failed, runtimes 30 s to 10 min), written straight into
-- dag_run_history of schema :schema, for scripts/bench transform.
-- Grain: one row per DAG run. Params: psql variables rows, schema, last_day, first_id.
INSERT INTO :schema.dag_run_history (
    airflow_instance, airflow_major_version, id, dag_id, run_id, execution_date, state, run_type,
    external_trigger, start_date, end_date, source_read_at, loaded_by_run_id)
SELECT 'default', 2, n, 'dag_' || lpad((n % 200)::text, 3, '0'), 'scheduled__' || n, ts,
       CASE WHEN (n::bigint * 7919) % 97 < 4 THEN 'failed' ELSE 'success' END, 'scheduled', false,
       ts + interval '1 hour', ts + interval '1 hour' + (30 + (n::bigint * 7919) % 570) * interval '1 second',
       now(), '00000000-0000-0000-0000-000000000000'
FROM (SELECT n, (:'last_day'::date - 1095)::timestamptz
                + (n - :first_id) * ((1096 * interval '1 day') / :rows) AS ts
      FROM generate_series(:first_id, :first_id + :rows - 1) AS n) AS s;
