-- What a day means, for every daily model: the runs and the validation results of some days,
-- each with its day in the reporting time zone. Re-created (CREATE OR REPLACE) by every
-- transform inside its transaction, so a change here takes effect on the next transform without
-- a migration (migration 0005 created the first version). A change of a function's result
-- columns needs a migration that drops it first.
-- Grain: definitions only (set-returning functions); each function's grain is stated above it.
-- Params: none (the functions take theirs: instances, days, time zone).
-- Spans are date_part('epoch', a - b), double precision: the same value as the views'
-- extract(epoch FROM a - b)::double precision for any span under a day (one rounding of the
-- microseconds), within a unit in the last place above (date_part adds the whole days apart),
-- and several times cheaper (extract computes in numeric since PostgreSQL 14). The full refresh
-- (full_refresh_dag_models.sql) uses the same expressions.
-- The runs of some days, each with its day and runtime: what every DAG-run model aggregates.
-- A plain SQL function the planner inlines. The join states the day twice on purpose: as an
-- instant range (an index range on dag_run_history_run_instant_idx, for a few days) and as an
-- equality on the computed day (a hash join, for many days, e.g. a full refresh).
-- Unqualified names resolve in the caller's search_path.
CREATE OR REPLACE FUNCTION dag_runs_on_days(p_instances text[], p_days date[], p_time_zone text)
RETURNS TABLE (airflow_instance text, day date, dag_id text, state text,
               runtime_seconds double precision)
LANGUAGE sql STABLE AS $$
    SELECT p.airflow_instance, p.day, h.dag_id, h.state,
           CASE WHEN h.state IN ('success', 'failed')
                THEN date_part('epoch', h.end_date - h.start_date) END
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
CREATE OR REPLACE FUNCTION validation_results_on_days(p_days date[], p_time_zone text)
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

-- The task tries of the DAG runs of some days, each with its run's day: what task_daily
-- aggregates. The runs are found as in dag_runs_on_days; their tries by task_run_history's
-- primary key (airflow_instance, dag_id, run_id, ...).
CREATE OR REPLACE FUNCTION task_tries_on_days(p_instances text[], p_days date[], p_time_zone text)
RETURNS TABLE (airflow_instance text, day date, dag_id text, run_id text, task_id text,
               map_index integer, try_number integer, state text,
               duration_seconds double precision, queue_wait_seconds double precision)
LANGUAGE sql STABLE AS $$
    SELECT p.airflow_instance, p.day, t.dag_id, t.run_id, t.task_id, t.map_index, t.try_number,
           t.state, t.duration_seconds,
           date_part('epoch', t.start_date - t.queued_at)
    FROM unnest(p_instances, p_days) AS p (airflow_instance, day)
    JOIN dag_run_history AS h
      ON h.airflow_instance = p.airflow_instance
     AND coalesce(h.execution_date, h.run_after) >= (p.day::timestamp AT TIME ZONE p_time_zone)
     AND coalesce(h.execution_date, h.run_after) < ((p.day + 1)::timestamp AT TIME ZONE p_time_zone)
     AND (coalesce(h.execution_date, h.run_after) AT TIME ZONE p_time_zone)::date = p.day
    JOIN task_run_history AS t
      ON t.airflow_instance = h.airflow_instance AND t.dag_id = h.dag_id AND t.run_id = h.run_id
$$;
COMMENT ON FUNCTION task_tries_on_days(text[], date[], text) IS
    'The task tries of the DAG runs of the given (instance, day) pairs (days in the given IANA time zone), with duration_seconds and queue_wait_seconds (start_date - queued_at): the input of task_daily.';

-- The delays (view dag_run_delay) of the DAG runs of some days, each with its day: what
-- dag_delay_daily aggregates.
CREATE OR REPLACE FUNCTION dag_run_delays_on_days(p_instances text[], p_days date[], p_time_zone text)
RETURNS TABLE (airflow_instance text, day date, dag_id text, run_id text,
               queue_seconds double precision, schedule_delay_seconds double precision,
               landing_seconds double precision, first_task_start_delay_seconds double precision)
LANGUAGE sql STABLE AS $$
    -- The same figures as the view dag_run_delay, computed from the runs of the days (joined
    -- as dag_runs_on_days joins them: an index range for a few days, a hash join on the day for
    -- many) and their tries' earliest start, in one join grouped by run: for a few days (where
    -- the transform turns hash and merge joins off) one index range on task_run_history per
    -- run; for many days one hash join. (Joining the runs to a separately grouped first-task
    -- relation made a nested loop re-run that grouping once per run: 54 s for a day of 4,101
    -- runs.)
    WITH runs AS (
        SELECT p.airflow_instance, p.day, h.dag_id, h.run_id, h.run_type, h.state,
               h.queued_at, h.start_date, h.end_date, h.data_interval_end
        FROM unnest(p_instances, p_days) AS p (airflow_instance, day)
        JOIN dag_run_history AS h
          ON h.airflow_instance = p.airflow_instance
         AND coalesce(h.execution_date, h.run_after) >= (p.day::timestamp AT TIME ZONE p_time_zone)
         AND coalesce(h.execution_date, h.run_after) < ((p.day + 1)::timestamp AT TIME ZONE p_time_zone)
         AND (coalesce(h.execution_date, h.run_after) AT TIME ZONE p_time_zone)::date = p.day
    )
    SELECT r.airflow_instance, r.day, r.dag_id, r.run_id,
           date_part('epoch', r.start_date - r.queued_at),
           CASE WHEN r.run_type = 'scheduled'
                THEN date_part('epoch', r.start_date - r.data_interval_end) END,
           CASE WHEN r.run_type = 'scheduled' AND r.state IN ('success', 'failed')
                THEN date_part('epoch', r.end_date - r.data_interval_end) END,
           date_part('epoch', min(t.start_date) - r.start_date)
    FROM runs AS r
    LEFT JOIN task_run_history AS t
      ON t.airflow_instance = r.airflow_instance
     AND t.dag_id = r.dag_id
     AND t.run_id = r.run_id
     AND t.start_date >= r.start_date
    GROUP BY r.airflow_instance, r.day, r.dag_id, r.run_id, r.run_type, r.state, r.queued_at,
             r.start_date, r.end_date, r.data_interval_end
$$;
COMMENT ON FUNCTION dag_run_delays_on_days(text[], date[], text) IS
    'The delays (dag_run_delay) of the DAG runs of the given (instance, day) pairs, days in the given IANA time zone: the input of dag_delay_daily.';
