-- Benchmark data for `scripts/bench api`: :rows finished DAG runs in an Airflow 3 metadata
-- database, spread over the 40 test DAGs (pw_t00 ... pw_t39, serialized by scripts/bench so
-- that the API lists their runs), one run per DAG per hour, 4% failed, ids from :first_id.
-- Grain: one row per DAG run. Params (psql variables): rows, first_id, updated (the updated_at
-- expression: `t + interval '1 hour 5 minutes'` for history, last changed when it finished;
-- `now()` for new runs).
INSERT INTO dag_run (dag_id, run_id, logical_date, run_after, state, run_type, triggered_by,
                     queued_at, start_date, end_date, data_interval_start, data_interval_end,
                     updated_at, clear_number)
SELECT 'pw_t' || lpad((n % 40)::text, 2, '0'),
       'scheduled__' || to_char(t, 'YYYY-MM-DD"T"HH24:MI:SS') || '+00:00',
       t, t + interval '1 hour',
       CASE WHEN n % 25 = 0 THEN 'failed' ELSE 'success' END,
       'scheduled', 'TIMETABLE',
       t + interval '1 hour', t + interval '1 hour 10 seconds', t + interval '1 hour 5 minutes',
       t, t + interval '1 hour', :updated, 0
FROM generate_series(:first_id, :first_id + :rows - 1) AS n,
     LATERAL (SELECT timestamptz '2020-01-01 00:00:00+00' + (n / 40) * interval '1 hour') AS g(t);
