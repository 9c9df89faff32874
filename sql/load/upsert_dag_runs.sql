-- Merges the batch into dag_run_history on the natural key (airflow_instance, dag_id, run_id).
-- A run not yet in the warehouse is inserted. A run already there is updated only when the
-- batch read it no earlier than the stored state (a replayed old extract never rolls a run back)
-- and something differs, so loading the same extract again changes nothing.
-- A stored read time more than an hour ahead of this clock (the most an extract may be off,
-- [extract] max_clock_skew_seconds) was recorded by a wrong clock before pipewatch checked it:
-- any newer read replaces it (docs/extract-watermark.md, "A clock in the future").
-- The day (in the reporting time zone) of every inserted or changed run is queued for the
-- transform in the same statement.
-- Grain: one row per DAG run. Params: $1 the loading invocation's run id, $2 reporting time zone.
-- Returns: one row, the number of runs inserted or changed.
WITH changed AS (
INSERT INTO dag_run_history AS h (
    airflow_instance, airflow_major_version, id, dag_id, run_id, execution_date, run_after,
    state, run_type, external_trigger, queued_at, start_date, end_date, data_interval_start,
    data_interval_end, clear_number, dag_version, source_updated_at, source_read_at, loaded_by_run_id)
SELECT airflow_instance, airflow_major_version, id, dag_id, run_id, execution_date, run_after,
       state, run_type, external_trigger, queued_at, start_date, end_date, data_interval_start,
       data_interval_end, clear_number, dag_version, source_updated_at, source_read_at, $1::uuid
FROM dag_run_extract_batch
ON CONFLICT (airflow_instance, dag_id, run_id) DO UPDATE
SET airflow_major_version = EXCLUDED.airflow_major_version,
    id                    = EXCLUDED.id,
    execution_date        = EXCLUDED.execution_date,
    run_after             = EXCLUDED.run_after,
    state                 = EXCLUDED.state,
    run_type              = EXCLUDED.run_type,
    external_trigger      = EXCLUDED.external_trigger,
    queued_at             = EXCLUDED.queued_at,
    start_date            = EXCLUDED.start_date,
    end_date              = EXCLUDED.end_date,
    data_interval_start   = EXCLUDED.data_interval_start,
    data_interval_end     = EXCLUDED.data_interval_end,
    clear_number          = EXCLUDED.clear_number,
    dag_version           = EXCLUDED.dag_version,
    source_updated_at     = EXCLUDED.source_updated_at,
    source_read_at        = EXCLUDED.source_read_at,
    loaded_at             = now(),
    loaded_by_run_id      = EXCLUDED.loaded_by_run_id
WHERE (EXCLUDED.source_read_at >= h.source_read_at OR h.source_read_at > now() + interval '1 hour')
  AND (h.airflow_major_version, h.id, h.execution_date, h.run_after, h.state, h.run_type,
       h.external_trigger, h.queued_at, h.start_date, h.end_date, h.data_interval_start,
       h.data_interval_end, h.clear_number, h.dag_version, h.source_updated_at)
      IS DISTINCT FROM
      (EXCLUDED.airflow_major_version, EXCLUDED.id, EXCLUDED.execution_date, EXCLUDED.run_after,
       EXCLUDED.state, EXCLUDED.run_type, EXCLUDED.external_trigger, EXCLUDED.queued_at,
       EXCLUDED.start_date, EXCLUDED.end_date, EXCLUDED.data_interval_start,
       EXCLUDED.data_interval_end, EXCLUDED.clear_number, EXCLUDED.dag_version,
       EXCLUDED.source_updated_at)
RETURNING h.airflow_instance, coalesce(h.execution_date, h.run_after) AS run_instant
),
queued AS (
    INSERT INTO dag_run_pending_day (airflow_instance, day)
    SELECT DISTINCT airflow_instance, (run_instant AT TIME ZONE $2::text)::date
    FROM changed
    WHERE run_instant IS NOT NULL
    ON CONFLICT DO NOTHING
)
SELECT count(*) AS changed_runs FROM changed
