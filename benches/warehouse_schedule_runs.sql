-- Benchmark runs for expected runs (issue 26), for `scripts/bench schedule`: the scheduled runs
-- of the DAGs of benches/warehouse_schedule.sql due in (:'after', :'until'], one per slot of
-- each DAG's schedule except 1 in 100 missing and none while the DAG was paused, written
-- straight into dag_run_history of schema :schema (data_interval_end = the slot).
-- Grain: one dag_run_history row per run. Params: psql variables schema, days, after, until,
-- first_id.
INSERT INTO :schema.dag_run_history (
    airflow_instance, airflow_major_version, id, dag_id, run_id, execution_date, state, run_type,
    external_trigger, start_date, end_date, data_interval_start, data_interval_end,
    source_read_at, loaded_by_run_id)
SELECT 'default', 2, :first_id + row_number() OVER (), c.dag_id,
       'scheduled__' || to_char(slot, 'YYYY-MM-DD"T"HH24:MI:SS'), slot - step, 'success',
       'scheduled', false, slot + interval '1 minute', slot + interval '5 minutes', slot - step,
       slot, now(), '00000000-0000-0000-0000-000000000000'
FROM :schema.dag_catalog AS c
CROSS JOIN LATERAL (
    SELECT CASE WHEN c.timetable_expression = '0 * * * *' THEN interval '1 hour'
                ELSE interval '1 day' END AS step,
           CASE WHEN c.timetable_expression = '0 * * * *'
                THEN date_trunc('hour', c.first_seen_at) + interval '1 hour'
                ELSE date_trunc('day', c.first_seen_at) + interval '26 hours' END AS first_slot
) AS k
CROSS JOIN LATERAL generate_series(k.first_slot, :'until'::timestamptz, k.step) AS slot
WHERE slot > :'after'::timestamptz
  AND (hashtext(c.dag_id || slot::text) % 100) <> 0
  AND NOT (right(c.dag_id, 2) = '50'
           AND slot > c.first_seen_at + (:days / 2) * interval '1 day'
           AND slot <= c.first_seen_at + (:days / 2 + 2) * interval '1 day');
