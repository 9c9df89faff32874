-- Migration 0008: extracts that cannot be loaded are set aside instead of blocking their
-- instance, can be discarded by hand, and the warehouse holds any text Airflow (or its REST API)
-- can give for a DAG id, run id, state or run type.
-- Grain: staged_extract: one row per staged extract object (new columns); the widened tables
-- keep their grain. Params: none. Applied with search_path set to pipewatch's schema.
-- varchar(n) to text is binary coercible: no table is rewritten and no index rebuilt. The view
-- and the function that name the widened columns' types are recreated unchanged otherwise.

ALTER TABLE staged_extract
    ADD COLUMN set_aside_at        timestamptz,
    ADD COLUMN set_aside_by_run_id uuid,
    ADD COLUMN set_aside_reason    text,
    ADD COLUMN discarded_at        timestamptz,
    ADD COLUMN discarded_by_run_id uuid;

-- The queue of extracts to load: neither loaded, set aside nor discarded.
DROP INDEX staged_extract_pending_idx;
CREATE INDEX staged_extract_pending_idx ON staged_extract (airflow_instance, extracted_at)
    WHERE loaded_at IS NULL AND set_aside_at IS NULL AND discarded_at IS NULL;

COMMENT ON COLUMN staged_extract.set_aside_at IS
    'When a load refused the object for what it holds (missing, truncated or changed object, a value the warehouse cannot take), so it no longer blocks the extracts after it; NULL otherwise. Set-aside extracts are reported by run and status (and make run exit 3) until loaded again (pipewatch load --object KEY) or discarded (pipewatch load --discard KEY).';
COMMENT ON COLUMN staged_extract.set_aside_by_run_id IS 'Run id of the invocation whose load set it aside.';
COMMENT ON COLUMN staged_extract.set_aside_reason IS 'Why the load refused it: the error, naming the run and column when a value was the cause.';
COMMENT ON COLUMN staged_extract.discarded_at IS
    'When an operator discarded it (pipewatch load --discard KEY): it will never be loaded; its runs come again with later extracts. Retention deletes it like a loaded one.';
COMMENT ON COLUMN staged_extract.discarded_by_run_id IS 'Run id of the invocation that discarded it.';

DROP VIEW dag_run_delay;
DROP FUNCTION dag_runs_on_days(text[], date[], text);

ALTER TABLE dag_run_history
    ALTER COLUMN dag_id TYPE text,
    ALTER COLUMN state TYPE text,
    ALTER COLUMN run_id TYPE text,
    ALTER COLUMN run_type TYPE text;
ALTER TABLE dag_history_daily
    ALTER COLUMN dag_id TYPE text,
    ALTER COLUMN dag_state TYPE text;
ALTER TABLE dag_success_daily ALTER COLUMN dag_id TYPE text;
ALTER TABLE dag_runtime_daily ALTER COLUMN dag_id TYPE text;

CREATE FUNCTION dag_runs_on_days(p_instances text[], p_days date[], p_time_zone text)
RETURNS TABLE (airflow_instance text, day date, dag_id text, state text,
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
