-- Migration 0014: scheduler health by reading, and each DAG's schedule status now.
-- scheduler_health_history keeps, for every catalogue reading, the newest heartbeat of each of
-- Airflow's long-running jobs (scheduler, DAG processor, triggerer: Airflow's job table), so a
-- dead scheduler shows, and since when. The view dag_schedule_status says for every DAG Airflow
-- has whether it runs as scheduled at the last reading, and if not why and since when.
-- Grain: scheduler_health_history one row per (airflow_instance, read_at, job_type);
-- dag_schedule_status one row per (airflow_instance, dag_id) that Airflow has.
-- Params: none. Applied with search_path set to pipewatch's schema.

CREATE TABLE scheduler_health_history (
    airflow_instance text        NOT NULL,
    read_at          timestamptz NOT NULL,
    job_type         text        NOT NULL,
    running_jobs     integer     NOT NULL,
    latest_heartbeat timestamptz,
    hostname         text,
    loaded_by_run_id uuid        NOT NULL,
    CONSTRAINT scheduler_health_history_pkey PRIMARY KEY (airflow_instance, read_at, job_type)
);

COMMENT ON TABLE scheduler_health_history IS
    'Airflow''s long-running jobs at each catalogue reading: one row per (airflow_instance, read_at, job_type) for SchedulerJob, DagProcessorJob and TriggererJob (from Airflow''s job table).';
COMMENT ON COLUMN scheduler_health_history.airflow_instance IS 'The Airflow installation.';
COMMENT ON COLUMN scheduler_health_history.read_at IS 'The Airflow clock at the reading.';
COMMENT ON COLUMN scheduler_health_history.job_type IS 'SchedulerJob, DagProcessorJob or TriggererJob.';
COMMENT ON COLUMN scheduler_health_history.running_jobs IS 'Jobs of that type in state running (a job that died without ending stays running: see latest_heartbeat).';
COMMENT ON COLUMN scheduler_health_history.latest_heartbeat IS 'The newest heartbeat of any job of that type; NULL when there never was one.';
COMMENT ON COLUMN scheduler_health_history.hostname IS 'The host of the job with that heartbeat.';
COMMENT ON COLUMN scheduler_health_history.loaded_by_run_id IS 'Run id of the pipewatch invocation that read it.';

-- Whether a DAG runs as scheduled, as of the last catalogue reading of its instance (as_of).
-- The first that holds, in this order:
--   stale          the DAG processor no longer finds the DAG;
--   import_error   its file failed to import at the last parse;
--   paused         paused in Airflow (its next-run fields are frozen, never read as overdue);
--   unscheduled    no schedule (manual, asset-triggered, @once, or no next run planned);
--   scheduler_down no scheduler heartbeat within 120 seconds of the reading;
--   blocked        the scheduler may not create the next run (next_dagrun_create_after NULL
--                  with a next run planned) while a run of the DAG is queued or running: the
--                  oldest such run is named (usually max_active_runs reached);
--   overdue        the next run was due (next_dagrun_create_after) longer ago than the grace:
--                  10 minutes plus the DAG's usual schedule delay (median over the last 7 days
--                  of dag_delay_daily's daily medians);
--   on_schedule    otherwise.
-- since: when that state began as far as pipewatch knows (import_error: the open episode's
-- first sighting in import_error_history; for stale, paused and an import error of no episode,
-- the end of the last span of dag_catalog_history without it, else when pipewatch first saw the
-- DAG; blocked: the blocking run's start, or queue time; overdue: when the run was due;
-- scheduler_down: the last heartbeat).
CREATE VIEW dag_schedule_status AS
SELECT c.airflow_instance,
       c.dag_id,
       c.owners,
       c.tags,
       c.read_at AS as_of,
       s.status,
       s.since,
       s.detail
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

COMMENT ON VIEW dag_schedule_status IS
    'Whether each DAG Airflow has runs as scheduled at the last catalogue reading (as_of): status on_schedule, overdue, blocked, paused, stale, import_error, unscheduled or scheduler_down, since when, and a detail (the blocking run, the due time and grace, the failing file and its error, the last heartbeat). The rules are in migration 0014 and the README.';
COMMENT ON COLUMN dag_schedule_status.airflow_instance IS 'The Airflow installation.';
COMMENT ON COLUMN dag_schedule_status.dag_id IS 'The DAG''s id, as in Airflow.';
COMMENT ON COLUMN dag_schedule_status.owners IS 'The DAG''s owners (dag_catalog.owners).';
COMMENT ON COLUMN dag_schedule_status.tags IS 'The DAG''s tags (dag_catalog.tags).';
COMMENT ON COLUMN dag_schedule_status.as_of IS 'The Airflow clock at the catalogue reading the status is of.';
COMMENT ON COLUMN dag_schedule_status.status IS 'on_schedule, overdue, blocked, paused, stale, import_error, unscheduled or scheduler_down (rules in migration 0014).';
COMMENT ON COLUMN dag_schedule_status.since IS 'When the status began, as far as pipewatch knows; NULL for on_schedule and unscheduled.';
COMMENT ON COLUMN dag_schedule_status.detail IS 'The blocking run, the due time and grace, the failing file and its error, or the last heartbeat; NULL otherwise.';
