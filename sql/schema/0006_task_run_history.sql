-- Migration 0006: task-level history (every try of every task instance) and the models that
-- answer "why": which task fails, which task is slow, where a DAG run's time went.
-- Grain: see each table's and view's comment. Params: none. Applied with search_path set to
-- pipewatch's schema. A task try belongs to the day of its DAG run (the DAG models' rule, in
-- the reporting time zone), so the task models are queued and recomputed with the DAG-run days
-- (dag_run_pending_day).

CREATE TABLE task_run_history (
    airflow_instance      text        NOT NULL,
    dag_id                text        NOT NULL,
    run_id                text        NOT NULL,
    task_id               text        NOT NULL,
    map_index             integer     NOT NULL,
    try_number            integer     NOT NULL,
    state                 text,
    start_date            timestamptz,
    end_date              timestamptz,
    duration_seconds      double precision
        GENERATED ALWAYS AS (extract(epoch FROM end_date - start_date)::double precision) STORED,
    queued_at             timestamptz,
    scheduled_at          timestamptz,
    pool                  text,
    pool_slots            integer,
    queue                 text,
    operator              text,
    hostname              text,
    max_tries             integer,
    from_history          boolean     NOT NULL,
    airflow_major_version smallint    NOT NULL,
    source_updated_at     timestamptz,
    source_read_at        timestamptz NOT NULL,
    first_loaded_at       timestamptz NOT NULL DEFAULT now(),
    loaded_at             timestamptz NOT NULL DEFAULT now(),
    -- Filled from the loader's pipewatch.run_id setting, as in dag_run_history.
    loaded_by_run_id      uuid        NOT NULL DEFAULT (nullif(current_setting('pipewatch.run_id', true), ''))::uuid,
    CONSTRAINT task_run_history_pkey
        PRIMARY KEY (airflow_instance, dag_id, run_id, task_id, map_index, try_number),
    CONSTRAINT task_run_history_airflow_major_version_check CHECK (airflow_major_version IN (2, 3))
);

COMMENT ON TABLE task_run_history IS
    'Every try of every Airflow task instance of the DAG runs pipewatch read: the current try from Airflow''s task_instance, earlier tries from task_instance_history (Airflow 2.10+). One row per (airflow_instance, dag_id, run_id, task_id, map_index, try_number), holding the latest state read; re-loads update rows, never duplicate them. A try_number Airflow itself did not keep is absent, not invented. Join to dag_run_history on (airflow_instance, dag_id, run_id).';
COMMENT ON COLUMN task_run_history.airflow_instance IS 'Name of the Airflow installation (as in dag_run_history).';
COMMENT ON COLUMN task_run_history.dag_id IS 'The DAG.';
COMMENT ON COLUMN task_run_history.run_id IS 'The DAG run (dag_run_history.run_id).';
COMMENT ON COLUMN task_run_history.task_id IS 'The task.';
COMMENT ON COLUMN task_run_history.map_index IS 'Index of a mapped task''s instance (0, 1, ...); -1 for a task that is not mapped.';
COMMENT ON COLUMN task_run_history.try_number IS
    'Airflow''s try number: 1 for the first try, higher for retries and for tries after the task was cleared. 0 for an instance Airflow never scheduled (e.g. upstream_failed, skipped before it ran); such a row is replaced when its first try appears.';
COMMENT ON COLUMN task_run_history.state IS
    'The try''s state when last read: success, failed, upstream_failed, skipped, up_for_retry, running, queued, scheduled, ... (NULL: not yet scheduled). Earlier tries that ended unfinished are recorded by Airflow as failed.';
COMMENT ON COLUMN task_run_history.start_date IS 'When the try started (UTC); NULL if it did not start.';
COMMENT ON COLUMN task_run_history.end_date IS 'When the try ended (UTC); NULL while running or if it did not run.';
COMMENT ON COLUMN task_run_history.duration_seconds IS 'end_date - start_date in seconds, when both are set; NULL otherwise.';
COMMENT ON COLUMN task_run_history.queued_at IS 'When the try was queued for an executor (Airflow''s queued_dttm, UTC).';
COMMENT ON COLUMN task_run_history.scheduled_at IS 'When the scheduler scheduled the try (Airflow 3 scheduled_dttm, UTC); NULL on Airflow 2, which does not record it.';
COMMENT ON COLUMN task_run_history.pool IS 'The Airflow pool the try ran in.';
COMMENT ON COLUMN task_run_history.pool_slots IS 'Pool slots the try took.';
COMMENT ON COLUMN task_run_history.queue IS 'The executor queue.';
COMMENT ON COLUMN task_run_history.operator IS 'The operator class (e.g. PythonOperator, _PythonDecoratedOperator).';
COMMENT ON COLUMN task_run_history.hostname IS 'The worker host that ran the try.';
COMMENT ON COLUMN task_run_history.max_tries IS 'Airflow''s max_tries for the instance: retries allowed, counting tries added by clears.';
COMMENT ON COLUMN task_run_history.from_history IS
    'true when the row was read from task_instance_history (a finished earlier try), false when from task_instance (the current try). When both hold the same try, the history row is that try.';
COMMENT ON COLUMN task_run_history.airflow_major_version IS 'Major version of the Airflow schema the row was read from: 2 or 3.';
COMMENT ON COLUMN task_run_history.source_updated_at IS 'Airflow''s updated_at of the row when pipewatch read it.';
COMMENT ON COLUMN task_run_history.source_read_at IS
    'When pipewatch read this state of the try (the Airflow database''s clock at the extract). A load never replaces a row with a state read earlier.';
COMMENT ON COLUMN task_run_history.first_loaded_at IS 'When pipewatch first loaded this try (UTC).';
COMMENT ON COLUMN task_run_history.loaded_at IS 'When pipewatch last inserted or updated this row (UTC).';
COMMENT ON COLUMN task_run_history.loaded_by_run_id IS 'Run id of the pipewatch invocation that last inserted or updated this row (pipewatch_run_log.run_id).';

-- The tasks that started first in a run, for the first-task delay.
CREATE INDEX task_run_history_start_idx
    ON task_run_history (airflow_instance, dag_id, run_id, start_date);

ALTER TABLE staged_extract
    ADD COLUMN task_object_key  text,
    ADD COLUMN task_row_count   bigint,
    ADD COLUMN task_byte_count  bigint,
    ADD COLUMN task_rows_loaded bigint;
COMMENT ON COLUMN staged_extract.task_object_key IS
    'Key of the task-instance CSV object staged with this extract (the tries of its DAG runs, same snapshot), loaded in the same transaction; NULL when task instances were not extracted.';
COMMENT ON COLUMN staged_extract.task_row_count IS 'Task tries in the task object (data rows); NULL without one.';
COMMENT ON COLUMN staged_extract.task_byte_count IS 'Size of the task object in bytes; NULL without one.';
COMMENT ON COLUMN staged_extract.task_rows_loaded IS 'Rows of task_run_history the load inserted or changed; NULL while pending or without a task object.';

-- Where the time of each DAG run went. Every figure is NULL when a date it needs is missing.
CREATE VIEW dag_run_delay AS
SELECT h.airflow_instance,
       h.dag_id,
       h.run_id,
       h.run_type,
       h.state,
       coalesce(h.execution_date, h.run_after) AS run_instant,
       extract(epoch FROM h.start_date - h.queued_at)::double precision AS queue_seconds,
       CASE WHEN h.run_type = 'scheduled'
            THEN extract(epoch FROM h.start_date - h.data_interval_end)::double precision
       END AS schedule_delay_seconds,
       CASE WHEN h.run_type = 'scheduled' AND h.state IN ('success', 'failed')
            THEN extract(epoch FROM h.end_date - h.data_interval_end)::double precision
       END AS landing_seconds,
       extract(epoch FROM first_task.start_date - h.start_date)::double precision
           AS first_task_start_delay_seconds
FROM dag_run_history AS h
LEFT JOIN LATERAL (
    SELECT min(t.start_date) AS start_date
    FROM task_run_history AS t
    WHERE t.airflow_instance = h.airflow_instance
      AND t.dag_id = h.dag_id
      AND t.run_id = h.run_id
      AND t.start_date >= h.start_date
) AS first_task ON true;
COMMENT ON VIEW dag_run_delay IS
    'Where each DAG run''s time went: one row per row of dag_run_history. Waiting (queue, schedule delay, first task) against running (dag_runtime_daily). Daily medians and p95 are in dag_delay_daily.';
COMMENT ON COLUMN dag_run_delay.airflow_instance IS 'The Airflow installation.';
COMMENT ON COLUMN dag_run_delay.dag_id IS 'The DAG.';
COMMENT ON COLUMN dag_run_delay.run_id IS 'The DAG run.';
COMMENT ON COLUMN dag_run_delay.run_type IS 'scheduled, manual, backfill, ...';
COMMENT ON COLUMN dag_run_delay.state IS 'The run''s state.';
COMMENT ON COLUMN dag_run_delay.run_instant IS 'The run''s logical date (run_after when NULL): what gives its day.';
COMMENT ON COLUMN dag_run_delay.queue_seconds IS 'start_date - queued_at of the run: how long it waited in the queued state.';
COMMENT ON COLUMN dag_run_delay.schedule_delay_seconds IS
    'start_date - data_interval_end for scheduled runs (else NULL): how late the run started after its data interval closed (Airflow''s dagrun.schedule_delay).';
COMMENT ON COLUMN dag_run_delay.landing_seconds IS
    'end_date - data_interval_end for finished (success or failed) scheduled runs (else NULL): how long after its interval closed the run''s data landed.';
COMMENT ON COLUMN dag_run_delay.first_task_start_delay_seconds IS
    'Earliest start of the run''s task tries minus the run''s start_date: how long the run waited for its first worker. Tries that started before the run''s start_date (earlier attempts of a cleared run) are not counted; NULL when no try started.';

CREATE TABLE task_daily (
    airflow_instance           text             NOT NULL,
    day                        date             NOT NULL,
    dag_id                     text             NOT NULL,
    task_id                    text             NOT NULL,
    task_instances             integer          NOT NULL,
    tries                      integer          NOT NULL,
    succeeded_tries            integer          NOT NULL,
    failed_tries               integer          NOT NULL,
    succeeded_after_retry      integer          NOT NULL,
    retried_instances          integer          NOT NULL,
    retry_seconds              double precision NOT NULL,
    succeeded_seconds          double precision NOT NULL,
    duration_median_seconds    double precision,
    duration_p95_seconds       double precision,
    duration_max_seconds       double precision,
    queue_wait_median_seconds  double precision,
    queue_wait_p95_seconds     double precision,
    computed_at                timestamptz      NOT NULL DEFAULT now(),
    computed_by_run_id         uuid             NOT NULL,
    CONSTRAINT task_daily_pkey PRIMARY KEY (airflow_instance, day, dag_id, task_id)
);
COMMENT ON TABLE task_daily IS
    'How each task fared: one row per (airflow_instance, day, dag_id, task_id) with at least one task instance, the day being its DAG run''s day. An instance is one (run, task, map_index); a try is one row of task_run_history.';
COMMENT ON COLUMN task_daily.airflow_instance IS 'The Airflow installation.';
COMMENT ON COLUMN task_daily.day IS 'The day (reporting time zone) of the DAG runs the tries belong to.';
COMMENT ON COLUMN task_daily.dag_id IS 'The DAG.';
COMMENT ON COLUMN task_daily.task_id IS 'The task (all map indexes together).';
COMMENT ON COLUMN task_daily.task_instances IS 'Task instances (run, map_index) of the task that day, whatever their state.';
COMMENT ON COLUMN task_daily.tries IS 'Tries Airflow recorded (try_number >= 1), in any state.';
COMMENT ON COLUMN task_daily.succeeded_tries IS 'Tries in state success.';
COMMENT ON COLUMN task_daily.failed_tries IS 'Tries in state failed or up_for_retry (a try that failed and awaits its retry).';
COMMENT ON COLUMN task_daily.succeeded_after_retry IS 'Instances whose final try succeeded with try_number > 1.';
COMMENT ON COLUMN task_daily.retried_instances IS
    'Instances with a failed try followed by another try: the ones that needed a retry (flakiness = retried_instances / task_instances). A try added by clearing a successful instance is not a retry.';
COMMENT ON COLUMN task_daily.retry_seconds IS 'Summed duration of the tries that failed and were followed by another try: the time retries cost.';
COMMENT ON COLUMN task_daily.succeeded_seconds IS 'Summed duration of successful tries: the time the task''s useful work took.';
COMMENT ON COLUMN task_daily.duration_median_seconds IS 'Median duration of successful tries (percentile_cont(0.5)); NULL when none.';
COMMENT ON COLUMN task_daily.duration_p95_seconds IS '95th percentile duration of successful tries (percentile_cont(0.95)); NULL when none.';
COMMENT ON COLUMN task_daily.duration_max_seconds IS 'Longest successful try; NULL when none.';
COMMENT ON COLUMN task_daily.queue_wait_median_seconds IS 'Median of start_date - queued_at over tries with both (how long a queued try waited for a worker); NULL when none.';
COMMENT ON COLUMN task_daily.queue_wait_p95_seconds IS '95th percentile of start_date - queued_at; NULL when none.';
COMMENT ON COLUMN task_daily.computed_at IS 'When pipewatch computed this row (UTC).';
COMMENT ON COLUMN task_daily.computed_by_run_id IS 'Run id of the pipewatch invocation that computed this row.';

CREATE TABLE dag_delay_daily (
    airflow_instance                        text             NOT NULL,
    day                                     date             NOT NULL,
    dag_id                                  text             NOT NULL,
    runs                                    integer          NOT NULL,
    queue_median_seconds                    double precision,
    queue_p95_seconds                       double precision,
    schedule_delay_median_seconds           double precision,
    schedule_delay_p95_seconds              double precision,
    landing_median_seconds                  double precision,
    landing_p95_seconds                     double precision,
    first_task_start_delay_median_seconds   double precision,
    first_task_start_delay_p95_seconds      double precision,
    computed_at                             timestamptz      NOT NULL DEFAULT now(),
    computed_by_run_id                      uuid             NOT NULL,
    CONSTRAINT dag_delay_daily_pkey PRIMARY KEY (airflow_instance, day, dag_id)
);
COMMENT ON TABLE dag_delay_daily IS
    'Where the DAG runs of a day waited: one row per (airflow_instance, day, dag_id) with at least one run; median and p95 (percentile_cont) of each delay of dag_run_delay over the runs that have it.';
COMMENT ON COLUMN dag_delay_daily.airflow_instance IS 'The Airflow installation.';
COMMENT ON COLUMN dag_delay_daily.day IS 'The day (reporting time zone) of the runs.';
COMMENT ON COLUMN dag_delay_daily.dag_id IS 'The DAG.';
COMMENT ON COLUMN dag_delay_daily.runs IS 'DAG runs that day.';
COMMENT ON COLUMN dag_delay_daily.queue_median_seconds IS 'Median queue_seconds (run start - run queued).';
COMMENT ON COLUMN dag_delay_daily.queue_p95_seconds IS '95th percentile queue_seconds.';
COMMENT ON COLUMN dag_delay_daily.schedule_delay_median_seconds IS 'Median schedule_delay_seconds (scheduled runs: start - data_interval_end).';
COMMENT ON COLUMN dag_delay_daily.schedule_delay_p95_seconds IS '95th percentile schedule_delay_seconds.';
COMMENT ON COLUMN dag_delay_daily.landing_median_seconds IS 'Median landing_seconds (finished scheduled runs: end - data_interval_end).';
COMMENT ON COLUMN dag_delay_daily.landing_p95_seconds IS '95th percentile landing_seconds.';
COMMENT ON COLUMN dag_delay_daily.first_task_start_delay_median_seconds IS 'Median first_task_start_delay_seconds (first task start - run start).';
COMMENT ON COLUMN dag_delay_daily.first_task_start_delay_p95_seconds IS '95th percentile first_task_start_delay_seconds.';
COMMENT ON COLUMN dag_delay_daily.computed_at IS 'When pipewatch computed this row (UTC).';
COMMENT ON COLUMN dag_delay_daily.computed_by_run_id IS 'Run id of the pipewatch invocation that computed this row.';

-- The reporting day "today", for the question functions below: the zone the models were
-- computed in (transform_state), UTC before the first transform.
-- The functions below keep the search_path of the migration (pipewatch's schema), so they find
-- their tables whatever the caller's search_path (a dashboard calls pipewatch.slowest_tasks(7)).
CREATE FUNCTION reporting_today() RETURNS date
LANGUAGE sql STABLE SET search_path FROM CURRENT AS $$
    SELECT (now() AT TIME ZONE coalesce((SELECT time_zone FROM transform_state), 'UTC'))::date
$$;
COMMENT ON FUNCTION reporting_today() IS
    'Today in the reporting time zone the models were computed in (UTC before the first transform).';

CREATE FUNCTION slowest_tasks(p_days integer DEFAULT 7)
RETURNS TABLE (airflow_instance text, dag_id text, task_id text, successful_tries bigint,
               p95_seconds double precision, previous_p95_seconds double precision,
               p95_change_seconds double precision, p95_change_ratio double precision)
LANGUAGE sql STABLE SET search_path FROM CURRENT AS $$
    WITH tries AS (
        SELECT t.airflow_instance, t.dag_id, t.task_id, t.duration_seconds,
               (coalesce(h.execution_date, h.run_after)
                    AT TIME ZONE coalesce((SELECT time_zone FROM transform_state), 'UTC'))::date
                   >= reporting_today() - p_days + 1 AS recent
        FROM dag_run_history AS h
        JOIN task_run_history AS t USING (airflow_instance, dag_id, run_id)
        WHERE t.state = 'success'
          AND t.duration_seconds IS NOT NULL
          AND coalesce(h.execution_date, h.run_after)
              >= ((reporting_today() - 2 * p_days + 1)::timestamp
                  AT TIME ZONE coalesce((SELECT time_zone FROM transform_state), 'UTC'))
          AND coalesce(h.execution_date, h.run_after)
              < ((reporting_today() + 1)::timestamp
                 AT TIME ZONE coalesce((SELECT time_zone FROM transform_state), 'UTC'))
    ),
    figures AS (
        SELECT airflow_instance, dag_id, task_id,
               count(*) FILTER (WHERE recent) AS successful_tries,
               percentile_cont(0.95) WITHIN GROUP (ORDER BY duration_seconds) FILTER (WHERE recent) AS p95,
               percentile_cont(0.95) WITHIN GROUP (ORDER BY duration_seconds) FILTER (WHERE NOT recent) AS previous_p95
        FROM tries
        GROUP BY airflow_instance, dag_id, task_id
    )
    SELECT airflow_instance, dag_id, task_id, successful_tries, p95, previous_p95,
           p95 - previous_p95, p95 / nullif(previous_p95, 0)
    FROM figures
    WHERE successful_tries > 0
    ORDER BY p95 DESC, airflow_instance, dag_id, task_id
$$;
COMMENT ON FUNCTION slowest_tasks(integer) IS
    'The slowest tasks: per (airflow_instance, dag_id, task_id), the 95th percentile duration of successful tries of the DAG runs of the last p_days days (today included, reporting time zone), the same over the p_days days before, and the change. Slowest first. Example: SELECT * FROM slowest_tasks(7) LIMIT 10.';

CREATE FUNCTION flakiest_tasks(p_days integer DEFAULT 7)
RETURNS TABLE (airflow_instance text, dag_id text, task_id text, task_instances bigint,
               retried_instances bigint, flaky_share numeric, failed_tries bigint,
               retry_seconds double precision)
LANGUAGE sql STABLE SET search_path FROM CURRENT AS $$
    SELECT d.airflow_instance, d.dag_id, d.task_id,
           sum(d.task_instances), sum(d.retried_instances),
           round(sum(d.retried_instances)::numeric / nullif(sum(d.task_instances), 0), 6),
           sum(d.failed_tries), sum(d.retry_seconds)
    FROM task_daily AS d
    WHERE d.day > reporting_today() - p_days
    GROUP BY d.airflow_instance, d.dag_id, d.task_id
    HAVING sum(d.retried_instances) > 0
    ORDER BY 6 DESC, 5 DESC, 1, 2, 3
$$;
COMMENT ON FUNCTION flakiest_tasks(integer) IS
    'The flakiest tasks over the last p_days days (today included): the share of task instances that needed a retry (a failed try followed by another), most flaky first; tasks that never needed one are left out. Example: SELECT * FROM flakiest_tasks(30).';

CREATE FUNCTION dag_retry_cost(p_days integer DEFAULT 7)
RETURNS TABLE (airflow_instance text, dag_id text, retried_instances bigint,
               failed_tries bigint, retry_seconds double precision,
               retry_share_of_task_seconds numeric)
LANGUAGE sql STABLE SET search_path FROM CURRENT AS $$
    SELECT d.airflow_instance, d.dag_id, sum(d.retried_instances), sum(d.failed_tries),
           sum(d.retry_seconds),
           round((sum(d.retry_seconds)
                  / nullif(sum(d.retry_seconds) + sum(d.succeeded_seconds), 0))::numeric, 6)
    FROM task_daily AS d
    WHERE d.day > reporting_today() - p_days
    GROUP BY d.airflow_instance, d.dag_id
    ORDER BY 5 DESC, 1, 2
$$;
COMMENT ON FUNCTION dag_retry_cost(integer) IS
    'What retries cost each DAG over the last p_days days (today included): instances retried, failed tries, and the seconds spent in tries that failed and were retried; retry_share_of_task_seconds is that time over itself plus the time of successful tries. Most costly first. Example: SELECT * FROM dag_retry_cost(7).';
