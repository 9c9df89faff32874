-- Migration 0005: the daily models dashboards read, and the queues of days to recompute.
-- Grain: see each table's comment. Params: none. Applied with search_path set to pipewatch's
-- schema. The day of a DAG run is the date of its logical date (run_after when NULL) in the
-- reporting time zone; the day of a validation result is the date of test_run_at in that zone.

-- Finds a day's runs by instant range, whatever the reporting time zone.
CREATE INDEX dag_run_history_run_instant_idx
    ON dag_run_history (airflow_instance, (coalesce(execution_date, run_after)));

CREATE TABLE dag_history_daily (
    execution_date     date          NOT NULL,
    dag_id             varchar(250)  NOT NULL,
    dag_state          varchar(250),
    runtime_seconds    numeric(14, 4),
    dag_run_count      integer       NOT NULL,
    airflow_instance   text          NOT NULL,
    runtime_run_count  integer       NOT NULL,
    computed_at        timestamptz   NOT NULL DEFAULT now(),
    computed_by_run_id uuid          NOT NULL
);
CREATE INDEX dag_history_daily_day_idx ON dag_history_daily (airflow_instance, execution_date);
COMMENT ON TABLE dag_history_daily IS
    'The book''s daily DAG table: one row per (airflow_instance, day, dag_id, state). Counts runs, not rows: the success rate of a DAG on a day is its success row''s dag_run_count over the dag_run_count of its success and failed rows (dag_success_daily has it ready).';
COMMENT ON COLUMN dag_history_daily.execution_date IS 'The day (a date in the reporting time zone) of the runs: the date of their logical date, or run_after when it is NULL.';
COMMENT ON COLUMN dag_history_daily.dag_id IS 'The DAG.';
COMMENT ON COLUMN dag_history_daily.dag_state IS 'The runs'' state: success, failed, queued, running (NULL when Airflow recorded none).';
COMMENT ON COLUMN dag_history_daily.runtime_seconds IS
    'Total runtime in seconds (end_date - start_date) of the group''s finished runs that have both dates; NULL when none has. Average = runtime_seconds / runtime_run_count.';
COMMENT ON COLUMN dag_history_daily.dag_run_count IS 'Number of DAG runs in the group.';
COMMENT ON COLUMN dag_history_daily.airflow_instance IS 'The Airflow installation.';
COMMENT ON COLUMN dag_history_daily.runtime_run_count IS 'How many of the group''s runs have a runtime (finished, with start and end dates).';
COMMENT ON COLUMN dag_history_daily.computed_at IS 'When pipewatch computed this row (UTC).';
COMMENT ON COLUMN dag_history_daily.computed_by_run_id IS 'Run id of the pipewatch invocation that computed this row.';

CREATE TABLE dag_success_daily (
    airflow_instance   text          NOT NULL,
    day                date          NOT NULL,
    dag_id             varchar(250)  NOT NULL,
    finished_runs      integer       NOT NULL,
    successful_runs    integer       NOT NULL,
    failed_runs        integer       NOT NULL,
    unfinished_runs    integer       NOT NULL,
    success_rate       numeric(7, 6),
    computed_at        timestamptz   NOT NULL DEFAULT now(),
    computed_by_run_id uuid          NOT NULL,
    CONSTRAINT dag_success_daily_pkey PRIMARY KEY (airflow_instance, day, dag_id)
);
COMMENT ON TABLE dag_success_daily IS
    'How often each DAG succeeded: one row per (airflow_instance, day, dag_id) with at least one run that day.';
COMMENT ON COLUMN dag_success_daily.airflow_instance IS 'The Airflow installation.';
COMMENT ON COLUMN dag_success_daily.day IS 'The day (reporting time zone) of the runs'' logical date (run_after when NULL).';
COMMENT ON COLUMN dag_success_daily.dag_id IS 'The DAG.';
COMMENT ON COLUMN dag_success_daily.finished_runs IS 'Runs in state success or failed.';
COMMENT ON COLUMN dag_success_daily.successful_runs IS 'Runs in state success.';
COMMENT ON COLUMN dag_success_daily.failed_runs IS 'Runs in state failed.';
COMMENT ON COLUMN dag_success_daily.unfinished_runs IS 'Runs not finished when last read (queued, running, or no state): not part of the rate.';
COMMENT ON COLUMN dag_success_daily.success_rate IS
    'successful_runs / finished_runs, from 0 to 1; NULL when no run finished (unknown, not zero). 24 successful hourly runs give 1.0.';
COMMENT ON COLUMN dag_success_daily.computed_at IS 'When pipewatch computed this row (UTC).';
COMMENT ON COLUMN dag_success_daily.computed_by_run_id IS 'Run id of the pipewatch invocation that computed this row.';

CREATE TABLE dag_runtime_daily (
    airflow_instance          text             NOT NULL,
    day                       date             NOT NULL,
    dag_id                    varchar(250)     NOT NULL,
    successful_runs_timed     integer          NOT NULL,
    success_runtime_avg_seconds    double precision,
    success_runtime_median_seconds double precision,
    success_runtime_p95_seconds    double precision,
    success_runtime_max_seconds    double precision,
    failed_runs_timed         integer          NOT NULL,
    failed_runtime_avg_seconds     double precision,
    failed_runtime_median_seconds  double precision,
    failed_runtime_p95_seconds     double precision,
    failed_runtime_max_seconds     double precision,
    computed_at               timestamptz      NOT NULL DEFAULT now(),
    computed_by_run_id        uuid             NOT NULL,
    CONSTRAINT dag_runtime_daily_pkey PRIMARY KEY (airflow_instance, day, dag_id)
);
COMMENT ON TABLE dag_runtime_daily IS
    'How long each DAG ran: one row per (airflow_instance, day, dag_id) with at least one finished run that has both start and end dates. Runtime = end_date - start_date in seconds. Successful and failed runs are kept apart (long failures are often timeouts).';
COMMENT ON COLUMN dag_runtime_daily.airflow_instance IS 'The Airflow installation.';
COMMENT ON COLUMN dag_runtime_daily.day IS 'The day (reporting time zone) of the runs'' logical date (run_after when NULL).';
COMMENT ON COLUMN dag_runtime_daily.dag_id IS 'The DAG.';
COMMENT ON COLUMN dag_runtime_daily.successful_runs_timed IS 'Successful runs with both start and end dates: the runs the success_* figures are over.';
COMMENT ON COLUMN dag_runtime_daily.success_runtime_avg_seconds IS 'Mean runtime of those successful runs; NULL when there are none.';
COMMENT ON COLUMN dag_runtime_daily.success_runtime_median_seconds IS 'Median runtime of those successful runs (interpolated: percentile_cont(0.5)); NULL when none.';
COMMENT ON COLUMN dag_runtime_daily.success_runtime_p95_seconds IS '95th percentile runtime of those successful runs (interpolated: percentile_cont(0.95)); NULL when none.';
COMMENT ON COLUMN dag_runtime_daily.success_runtime_max_seconds IS 'Longest runtime of those successful runs; NULL when none.';
COMMENT ON COLUMN dag_runtime_daily.failed_runs_timed IS 'Failed runs with both start and end dates: the runs the failed_* figures are over.';
COMMENT ON COLUMN dag_runtime_daily.failed_runtime_avg_seconds IS 'Mean runtime of those failed runs; NULL when there are none.';
COMMENT ON COLUMN dag_runtime_daily.failed_runtime_median_seconds IS 'Median runtime of those failed runs (percentile_cont(0.5)); NULL when none.';
COMMENT ON COLUMN dag_runtime_daily.failed_runtime_p95_seconds IS '95th percentile runtime of those failed runs (percentile_cont(0.95)); NULL when none.';
COMMENT ON COLUMN dag_runtime_daily.failed_runtime_max_seconds IS 'Longest runtime of those failed runs; NULL when none.';
COMMENT ON COLUMN dag_runtime_daily.computed_at IS 'When pipewatch computed this row (UTC).';
COMMENT ON COLUMN dag_runtime_daily.computed_by_run_id IS 'Run id of the pipewatch invocation that computed this row.';

CREATE TABLE validator_summary_daily (
    test_date           date         NOT NULL,
    script_1            text         NOT NULL,
    script_2            text         NOT NULL,
    comp_operator       varchar(20)  NOT NULL,
    test_composite_name text         NOT NULL,
    test_result         varchar(20),
    test_count          integer      NOT NULL,
    computed_at         timestamptz  NOT NULL DEFAULT now(),
    computed_by_run_id  uuid         NOT NULL
);
CREATE INDEX validator_summary_daily_day_idx ON validator_summary_daily (test_date);
COMMENT ON TABLE validator_summary_daily IS
    'The book''s daily validation table: one row per (day, script_1, script_2, comp_operator, test_result). Counts executions: the pass rate of a day is the test_count of its ''true'' rows over the sum of all its test_count (validation_daily has it ready).';
COMMENT ON COLUMN validator_summary_daily.test_date IS 'The day (reporting time zone) the tests ran.';
COMMENT ON COLUMN validator_summary_daily.script_1 IS 'The first script.';
COMMENT ON COLUMN validator_summary_daily.script_2 IS 'The second script.';
COMMENT ON COLUMN validator_summary_daily.comp_operator IS 'The comparison operator.';
COMMENT ON COLUMN validator_summary_daily.test_composite_name IS 'script_1 || '' '' || script_2 || '' '' || comp_operator, as in the book.';
COMMENT ON COLUMN validator_summary_daily.test_result IS '''true'' (passed), ''false'' (failed), or NULL (the test could not run).';
COMMENT ON COLUMN validator_summary_daily.test_count IS 'Number of executions in the group.';
COMMENT ON COLUMN validator_summary_daily.computed_at IS 'When pipewatch computed this row (UTC).';
COMMENT ON COLUMN validator_summary_daily.computed_by_run_id IS 'Run id of the pipewatch invocation that computed this row.';

CREATE TABLE validation_test_daily (
    day                date          NOT NULL,
    test_name          text          NOT NULL,
    script_1           text          NOT NULL,
    script_2           text          NOT NULL,
    comp_operator      varchar(20)   NOT NULL,
    executions         integer       NOT NULL,
    passed             integer       NOT NULL,
    failed             integer       NOT NULL,
    errors             integer       NOT NULL,
    pass_rate          numeric(7, 6) NOT NULL,
    computed_at        timestamptz   NOT NULL DEFAULT now(),
    computed_by_run_id uuid          NOT NULL,
    CONSTRAINT validation_test_daily_pkey PRIMARY KEY (day, test_name, script_1, script_2, comp_operator)
);
COMMENT ON TABLE validation_test_daily IS
    'How each validation test fared: one row per (day, test) with at least one execution, a test being its name, scripts and operator.';
COMMENT ON COLUMN validation_test_daily.day IS 'The day (reporting time zone) of test_run_at.';
COMMENT ON COLUMN validation_test_daily.test_name IS 'The test''s name.';
COMMENT ON COLUMN validation_test_daily.script_1 IS 'The first script.';
COMMENT ON COLUMN validation_test_daily.script_2 IS 'The second script.';
COMMENT ON COLUMN validation_test_daily.comp_operator IS 'The comparison operator.';
COMMENT ON COLUMN validation_test_daily.executions IS 'Executions that day (passed + failed + errors).';
COMMENT ON COLUMN validation_test_daily.passed IS 'Executions that passed.';
COMMENT ON COLUMN validation_test_daily.failed IS 'Executions that ran and failed.';
COMMENT ON COLUMN validation_test_daily.errors IS 'Executions that could not run (SQL error, timeout, lost connection): not passes.';
COMMENT ON COLUMN validation_test_daily.pass_rate IS 'passed / executions, from 0 to 1 (an error counts against it).';
COMMENT ON COLUMN validation_test_daily.computed_at IS 'When pipewatch computed this row (UTC).';
COMMENT ON COLUMN validation_test_daily.computed_by_run_id IS 'Run id of the pipewatch invocation that computed this row.';

CREATE VIEW validation_daily AS
SELECT day,
       sum(executions)::integer AS test_executions,
       sum(passed)::integer     AS passed,
       sum(failed)::integer     AS failed,
       sum(errors)::integer     AS errors,
       round(sum(passed)::numeric / sum(executions), 6) AS pass_rate
FROM validation_test_daily
GROUP BY day;
COMMENT ON VIEW validation_daily IS
    'Test volume and pass rate per day over all validation tests (the book''s dual-axis chart): one row per day with at least one execution.';
COMMENT ON COLUMN validation_daily.day IS 'The day (reporting time zone).';
COMMENT ON COLUMN validation_daily.test_executions IS 'Validation test executions that day: the volume.';
COMMENT ON COLUMN validation_daily.passed IS 'Executions that passed.';
COMMENT ON COLUMN validation_daily.failed IS 'Executions that ran and failed.';
COMMENT ON COLUMN validation_daily.errors IS 'Executions that could not run.';
COMMENT ON COLUMN validation_daily.pass_rate IS 'passed / test_executions, from 0 to 1.';

CREATE TABLE dag_run_pending_day (
    airflow_instance text        NOT NULL,
    day              date        NOT NULL,
    queued_at        timestamptz NOT NULL DEFAULT now(),
    CONSTRAINT dag_run_pending_day_pkey PRIMARY KEY (airflow_instance, day)
);
COMMENT ON TABLE dag_run_pending_day IS
    'Days whose DAG-run models must be recomputed: queued by loads (the old and the new day of every run they changed, in the load''s transaction) and backfills; emptied by transform.';
COMMENT ON COLUMN dag_run_pending_day.airflow_instance IS 'The Airflow installation.';
COMMENT ON COLUMN dag_run_pending_day.day IS 'The day, in the reporting time zone recorded in transform_state.';
COMMENT ON COLUMN dag_run_pending_day.queued_at IS 'When the day was queued (UTC).';

CREATE TABLE validation_pending_day (
    day       date        NOT NULL,
    queued_at timestamptz NOT NULL DEFAULT now(),
    CONSTRAINT validation_pending_day_pkey PRIMARY KEY (day)
);
COMMENT ON TABLE validation_pending_day IS
    'Days whose validation models must be recomputed: queued with every recorded result and by backfills; emptied by transform.';
COMMENT ON COLUMN validation_pending_day.day IS 'The day, in the reporting time zone recorded in transform_state.';
COMMENT ON COLUMN validation_pending_day.queued_at IS 'When the day was queued (UTC).';

CREATE TABLE transform_state (
    singleton          boolean     NOT NULL DEFAULT true,
    time_zone          text        NOT NULL,
    full_refresh_at    timestamptz,
    updated_at         timestamptz NOT NULL DEFAULT now(),
    updated_by_run_id  uuid        NOT NULL,
    CONSTRAINT transform_state_pkey PRIMARY KEY (singleton),
    CONSTRAINT transform_state_singleton_check CHECK (singleton)
);
COMMENT ON TABLE transform_state IS
    'The reporting time zone the daily models were computed in (one row). When the configured zone differs, the next transform rebuilds every model.';
COMMENT ON COLUMN transform_state.singleton IS 'Always true: the table has one row.';
COMMENT ON COLUMN transform_state.time_zone IS 'IANA time zone of the days in the models and the pending-day queues.';
COMMENT ON COLUMN transform_state.full_refresh_at IS 'When the models were last rebuilt from all history (UTC).';
COMMENT ON COLUMN transform_state.updated_at IS 'When this row last changed (UTC).';
COMMENT ON COLUMN transform_state.updated_by_run_id IS 'Run id of the invocation that last changed it.';

-- The runs of some days, each with its day and runtime: what every DAG-run model aggregates.
-- A plain SQL function the planner inlines. The join states the day twice on purpose: as an
-- instant range (an index range on dag_run_history_run_instant_idx, for a few days) and as an
-- equality on the computed day (a hash join, for many days, e.g. a full refresh).
-- Unqualified names resolve in the caller's search_path.
CREATE FUNCTION dag_runs_on_days(p_instances text[], p_days date[], p_time_zone text)
RETURNS TABLE (airflow_instance text, day date, dag_id varchar(250), state varchar(250),
               runtime_seconds double precision)
LANGUAGE sql STABLE AS $$
    SELECT p.airflow_instance, p.day, h.dag_id, h.state,
           CASE WHEN h.state IN ('success', 'failed')
                THEN extract(epoch FROM h.end_date - h.start_date)::double precision END
    FROM unnest(p_instances, p_days) AS p (airflow_instance, day)
    JOIN dag_run_history AS h
      ON h.airflow_instance = p.airflow_instance
     AND coalesce(h.execution_date, h.run_after) >= (p.day::timestamp AT TIME ZONE p_time_zone)
     AND coalesce(h.execution_date, h.run_after) < ((p.day + 1)::timestamp AT TIME ZONE p_time_zone)
     AND (coalesce(h.execution_date, h.run_after) AT TIME ZONE p_time_zone)::date = p.day
$$;
COMMENT ON FUNCTION dag_runs_on_days(text[], date[], text) IS
    'The DAG runs of the given (instance, day) pairs, days in the given IANA time zone, with runtime_seconds (end_date - start_date) for finished runs: the input of every daily DAG model. Example: SELECT * FROM dag_runs_on_days(ARRAY[''default''], ARRAY[current_date], ''UTC'').';

-- The validation results of some days, each with its day.
CREATE FUNCTION validation_results_on_days(p_days date[], p_time_zone text)
RETURNS TABLE (day date, test_name text, script_1 text, script_2 text, comp_operator varchar(20),
               outcome varchar(10), test_result varchar(20))
LANGUAGE sql STABLE AS $$
    SELECT p.day, v.test_name, v.script_1, v.script_2, v.comp_operator, v.outcome, v.test_result
    FROM unnest(p_days) AS p (day)
    JOIN validation_run_history AS v
      ON v.test_run_at >= (p.day::timestamp AT TIME ZONE p_time_zone)
     AND v.test_run_at < ((p.day + 1)::timestamp AT TIME ZONE p_time_zone)
     AND (v.test_run_at AT TIME ZONE p_time_zone)::date = p.day
$$;
COMMENT ON FUNCTION validation_results_on_days(date[], text) IS
    'The validation results of the given days (in the given IANA time zone): the input of every daily validation model.';
