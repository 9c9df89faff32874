-- Demo data for an Airflow 2 metadata database: 14 days of realistic dag_run rows ending now.
-- Grain: one row per DAG run. Params: none; times are relative to now(), and outcomes come from
-- a hash of (dag_id, the run's age in schedule intervals), so every demo, whatever the time of
-- day, gets the same outcomes: over the last 7 days 11 of 179 finished scheduled runs fail
-- (6.1 %, so the example suite's warn test on a 5 % failure rate fails every time).
-- DAGs: an hourly ingest (a few failures), a daily ETL (failures are 60-minute timeouts), a
-- flaky daily ML build with one manual run, a weekly report, and old backfill runs. The newest
-- runs are still queued or running, as in a live Airflow.
-- Requires the dag_run table of tests/fixtures/airflow/dag_run_airflow2.sql.
WITH schedule AS (
    SELECT 'hourly_ingest_events'::text AS dag_id, 'scheduled'::text AS run_type, logical,
           interval '1 hour' AS every, interval '4 minutes' AS typical_runtime, 4 AS failure_percent
    FROM generate_series(date_trunc('hour', now()) - interval '14 days',
                         now() - interval '1 hour', interval '1 hour') AS logical
    UNION ALL
    SELECT 'daily_orders_etl', 'scheduled', logical, interval '1 day', interval '25 minutes', 12
    FROM generate_series(date_trunc('day', now()) - interval '14 days' + interval '2 hours',
                         now() - interval '1 day', interval '1 day') AS logical
    UNION ALL
    SELECT 'ml_feature_build', 'scheduled', logical, interval '1 day', interval '50 minutes', 25
    FROM generate_series(date_trunc('day', now()) - interval '14 days' + interval '5 hours',
                         now() - interval '1 day', interval '1 day') AS logical
    UNION ALL
    SELECT 'weekly_finance_report', 'scheduled', logical, interval '7 days', interval '12 minutes', 0
    FROM generate_series(date_trunc('week', now()) - interval '21 days',
                         now() - interval '7 days', interval '7 days') AS logical
    UNION ALL
    SELECT 'ml_feature_build', 'manual', date_trunc('minute', now()) - interval '3 days 4 hours',
           interval '0', interval '47 minutes', 0
    UNION ALL
    SELECT 'daily_orders_etl', 'backfill', logical, interval '1 day', interval '22 minutes', 0
    FROM generate_series(date_trunc('day', now()) - interval '30 days' + interval '2 hours',
                         date_trunc('day', now()) - interval '25 days', interval '1 day') AS logical
),
timed AS (
    SELECT s.*,
           (abs(hashtext(dag_id || '/run/' || age)) % 1000) / 1000.0 AS outcome_draw,
           (abs(hashtext(age || '/' || dag_id)) % 1000) / 1000.0 AS runtime_draw,
           CASE
               WHEN run_type = 'manual' THEN logical
               WHEN run_type = 'backfill'
                   THEN date_trunc('day', now()) - interval '3 days'
                        + extract(day FROM logical) * interval '30 minutes'
               ELSE logical + every
           END + interval '15 seconds' AS queued_at
    FROM (SELECT s.*,
                 -- 1 for the newest run of a schedule, 2 for the one before, ...
                 floor(extract(epoch FROM date_trunc('hour', now()) - date_trunc('hour', logical))
                       / extract(epoch FROM greatest(every, interval '1 hour')))::int AS age
          FROM schedule AS s) AS s
),
finished AS (
    SELECT t.*,
           t.queued_at + interval '20 seconds' AS start_at,
           CASE WHEN outcome_draw * 100 < failure_percent THEN 'failed' ELSE 'success' END AS final_state,
           CASE
               WHEN outcome_draw * 100 < failure_percent AND dag_id = 'daily_orders_etl'
                   THEN interval '60 minutes'
               WHEN outcome_draw * 100 < failure_percent THEN typical_runtime * runtime_draw
               ELSE typical_runtime * (0.7 + 0.6 * runtime_draw)
           END AS runtime
    FROM timed AS t
    WHERE t.queued_at <= now()
)
INSERT INTO dag_run (dag_id, queued_at, execution_date, start_date, end_date, state, run_id,
                     external_trigger, run_type, data_interval_start, data_interval_end,
                     last_scheduling_decision, updated_at, clear_number)
SELECT dag_id,
       queued_at,
       logical,
       CASE WHEN start_at <= now() THEN start_at END,
       CASE WHEN start_at + runtime <= now() THEN start_at + runtime END,
       CASE
           WHEN start_at > now() THEN 'queued'
           WHEN start_at + runtime > now() THEN 'running'
           ELSE final_state
       END,
       run_type || '__' || to_char(logical AT TIME ZONE 'UTC', 'YYYY-MM-DD"T"HH24:MI:SS') || '+00:00',
       run_type = 'manual',
       run_type,
       logical,
       logical + every,
       least(start_at + runtime, now()),
       least(start_at + runtime, now()),
       0
FROM finished
ORDER BY queued_at;

-- One run cleared after it failed and re-run successfully, as an operator would.
UPDATE dag_run
SET state = 'success',
    clear_number = 1,
    start_date = end_date + interval '2 hours',
    end_date = end_date + interval '2 hours 24 minutes',
    updated_at = end_date + interval '2 hours 24 minutes'
WHERE id = (SELECT min(id) FROM dag_run
            WHERE dag_id = 'daily_orders_etl' AND state = 'failed' AND run_type = 'scheduled'
              AND end_date < now() - interval '3 hours');

-- Runs in flight right now: a manual ETL run still running, and an ML build still queued.
INSERT INTO dag_run (dag_id, queued_at, execution_date, start_date, end_date, state, run_id,
                     external_trigger, run_type, data_interval_start, data_interval_end,
                     updated_at, clear_number)
VALUES
    ('daily_orders_etl', now() - interval '11 minutes', date_trunc('second', now()) - interval '11 minutes',
     now() - interval '10 minutes', NULL, 'running',
     'manual__' || to_char((date_trunc('second', now()) - interval '11 minutes') AT TIME ZONE 'UTC', 'YYYY-MM-DD"T"HH24:MI:SS') || '+00:00',
     true, 'manual', NULL, NULL, now() - interval '10 minutes', 0),
    ('ml_feature_build', now() - interval '30 seconds', date_trunc('second', now()) - interval '30 seconds',
     NULL, NULL, 'queued',
     'manual__' || to_char((date_trunc('second', now()) - interval '30 seconds') AT TIME ZONE 'UTC', 'YYYY-MM-DD"T"HH24:MI:SS') || '+00:00',
     true, 'manual', NULL, NULL, now() - interval '30 seconds', 0);
