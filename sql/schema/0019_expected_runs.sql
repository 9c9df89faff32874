-- Migration 0019: expected against actual runs. The catalogue keeps what pipewatch needs to
-- expand each DAG's schedule (the timetable's kind, cron expression or interval, time zone,
-- start and end dates; from serialized_dag or the REST API's DAG details), in dag_catalog and,
-- as tracked attributes, in dag_catalog_history; the transform writes dag_schedule_daily (per
-- instance, day and DAG: the runs the schedule called for while the DAG was unpaused and
-- present, the scheduled runs that exist for them, the missing ones) and dag_schedule_missed
-- (one row per missing slot), read through the view missed_dag_run.
-- Grain: see each table's comment. Params: none. Applied with search_path set to pipewatch's
-- schema.

ALTER TABLE dag_catalog
    ADD COLUMN timetable_kind                     text,
    ADD COLUMN timetable_expression               text,
    ADD COLUMN timetable_delta_seconds            double precision,
    ADD COLUMN timetable_trigger_interval_seconds double precision,
    ADD COLUMN time_zone                          text,
    ADD COLUMN start_date                         timestamptz,
    ADD COLUMN end_date                           timestamptz,
    ADD COLUMN timetable_source_key               text;

COMMENT ON COLUMN dag_catalog.timetable_kind IS
    'How the DAG is scheduled, one meaning for both Airflow versions: cron (a cron expression or preset), delta (a fixed interval), none (manual only), once, continuous, asset (asset- or dataset-triggered), custom (a timetable pipewatch does not expand), or NULL while unknown.';
COMMENT ON COLUMN dag_catalog.timetable_expression IS 'For cron: the five-field cron expression (presets such as @daily written out, as Airflow does).';
COMMENT ON COLUMN dag_catalog.timetable_delta_seconds IS 'For delta: the interval between runs, in seconds.';
COMMENT ON COLUMN dag_catalog.timetable_trigger_interval_seconds IS
    'The data interval of a trigger timetable (Airflow 3''s default for cron and timedelta schedules), in seconds; NULL for Airflow 2''s data-interval timetables, whose run covers the interval since the previous slot.';
COMMENT ON COLUMN dag_catalog.time_zone IS 'The time zone the cron expression is read in (the DAG''s; Airflow''s default is UTC).';
COMMENT ON COLUMN dag_catalog.start_date IS 'The DAG''s start_date: no run is expected before it.';
COMMENT ON COLUMN dag_catalog.end_date IS 'The DAG''s end_date: no run is expected after it.';
COMMENT ON COLUMN dag_catalog.timetable_source_key IS
    'What the timetable facts were read from: the serialized DAG''s dag_hash (database source) or the schedule text (REST API source); they are read again only when it changes.';

ALTER TABLE dag_catalog_history
    ADD COLUMN timetable_kind                     text,
    ADD COLUMN timetable_expression               text,
    ADD COLUMN timetable_delta_seconds            double precision,
    ADD COLUMN timetable_trigger_interval_seconds double precision,
    ADD COLUMN time_zone                          text,
    ADD COLUMN start_date                         timestamptz,
    ADD COLUMN end_date                           timestamptz;

COMMENT ON COLUMN dag_catalog_history.timetable_kind IS 'As dag_catalog.timetable_kind, during the span.';
COMMENT ON COLUMN dag_catalog_history.timetable_expression IS 'As dag_catalog.timetable_expression, during the span.';
COMMENT ON COLUMN dag_catalog_history.timetable_delta_seconds IS 'As dag_catalog.timetable_delta_seconds, during the span.';
COMMENT ON COLUMN dag_catalog_history.timetable_trigger_interval_seconds IS 'As dag_catalog.timetable_trigger_interval_seconds, during the span.';
COMMENT ON COLUMN dag_catalog_history.time_zone IS 'As dag_catalog.time_zone, during the span.';
COMMENT ON COLUMN dag_catalog_history.start_date IS 'As dag_catalog.start_date, during the span.';
COMMENT ON COLUMN dag_catalog_history.end_date IS 'As dag_catalog.end_date, during the span.';

-- The runs that exist for a DAG's slots: an index range per DAG on the data interval's end,
-- of the runs that fill slots only (index-only where the table is all-visible).
CREATE INDEX dag_run_history_interval_end_idx
    ON dag_run_history (airflow_instance, dag_id, data_interval_end)
    WHERE run_type IN ('scheduled', 'backfill');

CREATE TABLE dag_schedule_daily (
    airflow_instance   text         NOT NULL,
    day                date         NOT NULL,
    dag_id             varchar(250) NOT NULL,
    timetable_kind     text,
    expected_runs      integer,
    actual_runs        integer,
    missing_runs       integer,
    eligible_seconds   double precision NOT NULL,
    judged_until       timestamptz  NOT NULL,
    note               text,
    computed_at        timestamptz  NOT NULL DEFAULT now(),
    computed_by_run_id uuid         NOT NULL,
    CONSTRAINT dag_schedule_daily_pkey PRIMARY KEY (airflow_instance, day, dag_id)
);

COMMENT ON TABLE dag_schedule_daily IS
    'Expected against actual runs: one row per (airflow_instance, day, dag_id) for every DAG the catalogue knew on that day (day in the reporting time zone, of the slot''s due time). Slots are counted only while the DAG was unpaused and present in Airflow (a DAG whose file fails to import counts: its runs are missed), from the catalogue history, and only once they are due by more than 10 minutes at the last catalogue reading.';
COMMENT ON COLUMN dag_schedule_daily.airflow_instance IS 'The Airflow installation.';
COMMENT ON COLUMN dag_schedule_daily.day IS 'The day, in the reporting time zone, of the slots'' due times (a run''s due time is its data interval''s end: when the scheduler creates it).';
COMMENT ON COLUMN dag_schedule_daily.dag_id IS 'The DAG.';
COMMENT ON COLUMN dag_schedule_daily.timetable_kind IS 'The schedule''s kind on that day (dag_catalog.timetable_kind; the last one where it changed during the day).';
COMMENT ON COLUMN dag_schedule_daily.expected_runs IS 'The runs the schedule called for on the day while the DAG was eligible; NULL where pipewatch cannot expand the schedule (custom timetables, an unknown time zone or an unparseable expression: see note).';
COMMENT ON COLUMN dag_schedule_daily.actual_runs IS 'Of the expected slots, how many have a scheduled or backfill run with that data interval end; NULL with expected_runs.';
COMMENT ON COLUMN dag_schedule_daily.missing_runs IS 'expected_runs - actual_runs: the slots without a run (listed in missed_dag_run).';
COMMENT ON COLUMN dag_schedule_daily.eligible_seconds IS 'How long on the day the DAG was unpaused and present (up to judged_until for the current day).';
COMMENT ON COLUMN dag_schedule_daily.judged_until IS 'Slots due up to this instant are counted (the catalogue reading''s time less 10 minutes); later ones of the day are not yet.';
COMMENT ON COLUMN dag_schedule_daily.note IS 'Why the schedule was not expanded, or which schedule rule applied.';
COMMENT ON COLUMN dag_schedule_daily.computed_at IS 'When the row was computed.';
COMMENT ON COLUMN dag_schedule_daily.computed_by_run_id IS 'Run id of the pipewatch invocation that computed it.';

CREATE TABLE dag_schedule_missed (
    airflow_instance    text         NOT NULL,
    dag_id              varchar(250) NOT NULL,
    due_at              timestamptz  NOT NULL,
    day                 date         NOT NULL,
    data_interval_start timestamptz  NOT NULL,
    computed_by_run_id  uuid         NOT NULL,
    CONSTRAINT dag_schedule_missed_pkey PRIMARY KEY (airflow_instance, dag_id, due_at)
);
CREATE INDEX dag_schedule_missed_day_idx ON dag_schedule_missed (airflow_instance, day);

COMMENT ON TABLE dag_schedule_missed IS
    'One row per slot the schedule called for that has no scheduled or backfill run (see dag_schedule_daily); read it through missed_dag_run.';
COMMENT ON COLUMN dag_schedule_missed.airflow_instance IS 'The Airflow installation.';
COMMENT ON COLUMN dag_schedule_missed.dag_id IS 'The DAG.';
COMMENT ON COLUMN dag_schedule_missed.computed_by_run_id IS 'Run id of the pipewatch invocation that found it missing.';
COMMENT ON COLUMN dag_schedule_missed.due_at IS 'When the run was due: the end of the data interval it should have covered.';
COMMENT ON COLUMN dag_schedule_missed.day IS 'The day of due_at in the reporting time zone.';
COMMENT ON COLUMN dag_schedule_missed.data_interval_start IS 'The start of the data interval it should have covered.';

CREATE TABLE dag_schedule_state (
    airflow_instance text        NOT NULL PRIMARY KEY,
    judged_until     timestamptz NOT NULL,
    updated_by_run_id uuid       NOT NULL
);

COMMENT ON TABLE dag_schedule_state IS
    'Per instance, the instant up to which dag_schedule_daily counted slots: the next transform recomputes the days from there to the new catalogue reading.';
COMMENT ON COLUMN dag_schedule_state.airflow_instance IS 'The Airflow installation.';
COMMENT ON COLUMN dag_schedule_state.judged_until IS 'Slots due up to this instant were counted (the catalogue reading less 10 minutes).';
COMMENT ON COLUMN dag_schedule_state.updated_by_run_id IS 'Run id of the pipewatch invocation that counted them.';

CREATE VIEW missed_dag_run AS
SELECT m.airflow_instance,
       m.dag_id::text AS dag_id,
       m.day,
       m.data_interval_start,
       m.due_at AS data_interval_end,
       coalesce(d.owners, '{}') AS owners,
       coalesce(d.tags, '{}') AS tags
FROM dag_schedule_missed AS m
LEFT JOIN dag_dimensions AS d
       ON d.airflow_instance = m.airflow_instance AND d.dag_id = m.dag_id::text;

COMMENT ON VIEW missed_dag_run IS
    'Each run the schedule called for that never came: instance, DAG, the data interval it should have covered (data_interval_end is when it was due), its day in the reporting time zone, and the DAG''s owners and tags.';
COMMENT ON COLUMN missed_dag_run.airflow_instance IS 'The Airflow installation.';
COMMENT ON COLUMN missed_dag_run.dag_id IS 'The DAG.';
COMMENT ON COLUMN missed_dag_run.day IS 'The day of data_interval_end in the reporting time zone.';
COMMENT ON COLUMN missed_dag_run.data_interval_start IS 'The start of the data interval the run should have covered.';
COMMENT ON COLUMN missed_dag_run.data_interval_end IS 'The end of that interval: when the run was due.';
COMMENT ON COLUMN missed_dag_run.owners IS 'The DAG''s owners, as the catalogue last read them.';
COMMENT ON COLUMN missed_dag_run.tags IS 'The DAG''s tags, as the catalogue last read them.';

ALTER TABLE alert_history
    DROP CONSTRAINT alert_history_rule_check,
    ADD CONSTRAINT alert_history_rule_check CHECK (rule IN ('success_rate_drop',
        'runtime_regression', 'freshness', 'landing_deadline', 'validation_failure', 'overdue',
        'blocked', 'paused', 'import_error', 'scheduler_down', 'pool_empty', 'missed_runs'));
COMMENT ON COLUMN alert_history.rule IS 'success_rate_drop, runtime_regression, freshness, landing_deadline, validation_failure, overdue, blocked, paused, import_error, scheduler_down, pool_empty or missed_runs.';

-- Airflow 3 keeps next_dagrun_create_after while max_active_runs holds a DAG back, and sets
-- dag.exceeds_max_non_backfill instead (seen with a real scheduler: tests/it/live_scheduler.rs);
-- the status view reads it, and, where no source gives it (the REST API), counts the DAG's
-- queued and running runs against max_active_runs.
ALTER TABLE dag_catalog ADD COLUMN max_active_runs_reached boolean;
COMMENT ON COLUMN dag_catalog.max_active_runs_reached IS
    'Airflow 3''s exceeds_max_non_backfill: the DAG''s active runs reach max_active_runs, so the scheduler creates no new one (NULL where the source does not say: Airflow 2, whose scheduler clears next_dagrun_create_after instead, and the REST API).';

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
       k.status IN ('overdue', 'scheduler_down') AND NOT held.back
           AND c.next_dagrun_create_after < c.read_at - g.grace AS past_due,
       CASE WHEN k.status IN ('blocked', 'scheduler_down') AND held.back
            THEN blocker.run_id END AS blocking_run_id,
       CASE WHEN k.status IN ('blocked', 'scheduler_down') AND held.back
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
    SELECT count(*) AS runs
    FROM dag_run_history AS r
    WHERE r.airflow_instance = c.airflow_instance AND r.dag_id = c.dag_id
      AND r.state IN ('queued', 'running')
) AS active ON true
CROSS JOIN LATERAL (
    -- Held back by max_active_runs: Airflow 2 clears next_dagrun_create_after; Airflow 3 keeps it
    -- and sets exceeds_max_non_backfill (max_active_runs_reached); through Airflow 3's REST API,
    -- which has neither, the DAG's queued and running runs as loaded reach max_active_runs.
    SELECT blocker.run_id IS NOT NULL
           AND (c.next_dagrun_create_after IS NULL OR coalesce(c.max_active_runs_reached, false)
                OR active.runs >= c.max_active_runs) AS back
) AS held
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
               WHEN held.back THEN 'blocked'
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

-- The DAGs' owner links (dag_owner_attributes), read with the catalogue where the table is
-- readable; the DAG dimensions give them beside the owners.
ALTER TABLE dag_catalog ADD COLUMN owner_links jsonb;
COMMENT ON COLUMN dag_catalog.owner_links IS
    'The links the DAG gives its owners ({owner: link}, Airflow''s owner_links in dag_owner_attributes, as Airflow''s UI shows them); NULL when it gives none or they are not read (the REST API, or no readable dag_owner_attributes).';

CREATE OR REPLACE VIEW dag_dimensions AS
SELECT airflow_instance,
       dag_id::text AS dag_id,
       owners,
       tags,
       is_paused,
       is_stale,
       schedule,
       in_airflow,
       owner_links
FROM dag_catalog;
COMMENT ON COLUMN dag_dimensions.owner_links IS 'The links the DAG gives its owners ({owner: link}), or NULL.';
