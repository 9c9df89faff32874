-- Migration 0015: the DAG catalogue's alerts (overdue, blocked, paused, import_error,
-- scheduler_down), and what they need of dag_schedule_status whatever the scheduler's health.
-- alert_history takes the five new rules. Their alerts are episodes (a DAG overdue in the
-- morning and again in the afternoon is two alerts), so "once a day" holds for the day-based
-- rules only: the unique constraint becomes a unique index over those rules; one open alert per
-- rule and subject still holds for all (alert_history_one_open_idx).
-- While no scheduler heartbeats, every scheduled DAG's status is scheduler_down; the alerts still
-- need to know which of those DAGs are past due (overdue alerts open after the grace even while
-- the scheduler is down, as the scheduler_down alert does) and which are held back by a run.
-- The view is the one of migration 0014 (same columns, same rules) with five columns appended:
--   next_run_due_at  the DAG's next_dagrun_create_after;
--   grace_seconds    the overdue grace (10 minutes plus the DAG's median schedule delay);
--   past_due         the scheduler's predicate for the next run holds and it is past the grace
--                    (status overdue, or scheduler_down for a DAG that would be overdue);
--   blocking_run_id, blocking_since  the oldest queued or running run while the scheduler may
--                    not create the next one (status blocked, or scheduler_down for such a DAG).
-- Grain: alert_history one row per alert; dag_schedule_status one row per (airflow_instance,
-- dag_id) that Airflow has. Params: none. Applied with search_path set to pipewatch's schema.

ALTER TABLE alert_history
    DROP CONSTRAINT alert_history_rule_check,
    ADD CONSTRAINT alert_history_rule_check CHECK (rule IN ('success_rate_drop',
        'runtime_regression', 'freshness', 'landing_deadline', 'validation_failure', 'overdue',
        'blocked', 'paused', 'import_error', 'scheduler_down')),
    DROP CONSTRAINT alert_history_once_a_day;
CREATE UNIQUE INDEX alert_history_once_a_day ON alert_history (rule, airflow_instance, subject, day)
    WHERE rule IN ('success_rate_drop', 'runtime_regression', 'freshness', 'landing_deadline',
                   'validation_failure');

COMMENT ON TABLE alert_history IS
    'Every alert pipewatch opened: one row per alert, at most one open per rule, Airflow instance and subject. The day-based rules (success_rate_drop, runtime_regression, freshness, landing_deadline, validation_failure) open at most once per subject and day: re-runs, backfills and overlapping runs never open them twice. The DAG catalogue''s rules (overdue, blocked, paused, import_error, scheduler_down) open once per episode.';
COMMENT ON COLUMN alert_history.rule IS 'success_rate_drop, runtime_regression, freshness, landing_deadline, validation_failure, overdue, blocked, paused, import_error or scheduler_down.';
COMMENT ON COLUMN alert_history.subject IS 'The DAG id; the validation test''s name; the DAG file (import_error: bundle/filename on Airflow 3); scheduler (scheduler_down).';

CREATE OR REPLACE VIEW dag_schedule_status AS
SELECT c.airflow_instance,
       c.dag_id,
       c.owners,
       c.tags,
       c.read_at AS as_of,
       s.status,
       s.since,
       s.detail,
       c.next_dagrun_create_after AS next_run_due_at,
       extract(epoch FROM g.grace)::double precision AS grace_seconds,
       k.status IN ('overdue', 'scheduler_down')
           AND c.next_dagrun_create_after < c.read_at - g.grace AS past_due,
       CASE WHEN k.status IN ('blocked', 'scheduler_down') AND c.next_dagrun_create_after IS NULL
            THEN blocker.run_id END AS blocking_run_id,
       CASE WHEN k.status IN ('blocked', 'scheduler_down') AND c.next_dagrun_create_after IS NULL
            THEN blocker.since END AS blocking_since
FROM dag_catalog AS c
LEFT JOIN LATERAL (
    SELECT h.latest_heartbeat
    FROM scheduler_health_history AS h
    WHERE h.airflow_instance = c.airflow_instance AND h.job_type = 'SchedulerJob'
      AND h.read_at = c.read_at
) AS health ON true
LEFT JOIN LATERAL (
    SELECT r.run_id, coalesce(r.start_date, r.queued_at) AS since
    FROM dag_run_history AS r
    WHERE r.airflow_instance = c.airflow_instance AND r.dag_id = c.dag_id
      AND r.state IN ('queued', 'running')
    ORDER BY coalesce(r.start_date, r.queued_at) NULLS LAST
    LIMIT 1
) AS blocker ON true
LEFT JOIN LATERAL (
    SELECT percentile_cont(0.5) WITHIN GROUP (ORDER BY d.schedule_delay_median_seconds)
               AS seconds
    FROM dag_delay_daily AS d
    WHERE d.airflow_instance = c.airflow_instance AND d.dag_id = c.dag_id
      AND d.day >= (c.read_at - interval '7 days')::date
) AS delay ON true
LEFT JOIN LATERAL (
    SELECT e.filename, e.last_line, e.first_seen_at
    FROM import_error_history AS e
    WHERE e.airflow_instance = c.airflow_instance AND e.resolved_at IS NULL
      AND c.dag_id = ANY (e.dag_ids)
    ORDER BY e.first_seen_at DESC
    LIMIT 1
) AS import_error ON true
CROSS JOIN LATERAL (
    SELECT interval '10 minutes' + make_interval(secs => greatest(coalesce(delay.seconds, 0), 0))
               AS grace
) AS g
CROSS JOIN LATERAL (
    SELECT CASE
               WHEN c.is_stale THEN 'stale'
               WHEN c.has_import_errors THEN 'import_error'
               WHEN c.is_paused THEN 'paused'
               WHEN c.next_dagrun IS NULL OR c.schedule IS NULL
                    OR c.schedule IN ('null', 'None', '@once', 'Dataset', 'Asset')
                    OR c.schedule_description ILIKE ANY (ARRAY['Never%', 'Triggered by%', 'Once%'])
                   THEN 'unscheduled'
               WHEN health.latest_heartbeat IS NULL
                    OR health.latest_heartbeat < c.read_at - interval '120 seconds'
                   THEN 'scheduler_down'
               WHEN c.next_dagrun_create_after IS NULL AND blocker.run_id IS NOT NULL
                   THEN 'blocked'
               WHEN c.next_dagrun_create_after < c.read_at - g.grace THEN 'overdue'
               ELSE 'on_schedule'
           END AS status
) AS k
CROSS JOIN LATERAL (
    SELECT k.status,
           CASE k.status
               WHEN 'stale' THEN coalesce(
                   (SELECT max(x.valid_to) FROM dag_catalog_history AS x
                    WHERE x.airflow_instance = c.airflow_instance AND x.dag_id = c.dag_id
                      AND x.is_stale IS NOT TRUE), c.first_seen_at)
               WHEN 'import_error' THEN coalesce(
                   import_error.first_seen_at,
                   (SELECT max(x.valid_to) FROM dag_catalog_history AS x
                    WHERE x.airflow_instance = c.airflow_instance AND x.dag_id = c.dag_id
                      AND x.has_import_errors IS NOT TRUE), c.first_seen_at)
               WHEN 'paused' THEN coalesce(
                   (SELECT max(x.valid_to) FROM dag_catalog_history AS x
                    WHERE x.airflow_instance = c.airflow_instance AND x.dag_id = c.dag_id
                      AND x.is_paused IS NOT TRUE), c.first_seen_at)
               WHEN 'scheduler_down' THEN health.latest_heartbeat
               WHEN 'blocked' THEN blocker.since
               WHEN 'overdue' THEN c.next_dagrun_create_after
           END AS since,
           CASE k.status
               WHEN 'blocked' THEN 'run ' || blocker.run_id || ' queued or running since '
                   || to_char(blocker.since AT TIME ZONE 'UTC', 'YYYY-MM-DD HH24:MI') || ' UTC'
                   || ' (max_active_runs ' || coalesce(c.max_active_runs::text, '?') || ')'
               WHEN 'overdue' THEN 'next run was due at '
                   || to_char(c.next_dagrun_create_after AT TIME ZONE 'UTC', 'YYYY-MM-DD HH24:MI')
                   || ' UTC (grace ' || round(extract(epoch FROM g.grace) / 60) || ' min)'
               WHEN 'import_error' THEN import_error.filename || ': ' || import_error.last_line
               WHEN 'scheduler_down' THEN coalesce('last scheduler heartbeat '
                   || to_char(health.latest_heartbeat AT TIME ZONE 'UTC', 'YYYY-MM-DD HH24:MI:SS')
                   || ' UTC', 'no scheduler heartbeat at all')
           END AS detail
) AS s
WHERE c.in_airflow;

COMMENT ON COLUMN dag_schedule_status.next_run_due_at IS 'When the scheduler may create the next run (dag_catalog.next_dagrun_create_after); NULL while it may not.';
COMMENT ON COLUMN dag_schedule_status.grace_seconds IS 'How long past next_run_due_at before the DAG counts as overdue: 10 minutes plus its median schedule delay over the last 7 days.';
COMMENT ON COLUMN dag_schedule_status.past_due IS 'Whether the next run is due for longer than the grace: true for overdue, and for a scheduler_down DAG that would be overdue.';
COMMENT ON COLUMN dag_schedule_status.blocking_run_id IS 'The oldest queued or running run while the scheduler may not create the next one (status blocked, or scheduler_down for such a DAG).';
COMMENT ON COLUMN dag_schedule_status.blocking_since IS 'When that run started (or was queued).';
