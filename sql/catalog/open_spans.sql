-- After sql/catalog/close_spans.sql (same transaction): opens a dag_catalog_history span, from
-- the reading's time, with dag_catalog's values, for the given DAGs (the ones seen for the
-- first time and the ones whose span was just closed). Naming them keeps this a primary-key
-- lookup per DAG, however fresh the tables' statistics (an anti-join of every DAG with the
-- current spans, planned on a never-analyzed history, took 6 s at 10,000 DAGs).
-- Grain: inserts one row per such (airflow_instance, dag_id). Params: $1 airflow_instance, $2
-- the Airflow clock at the reading, $3 the invocation's run id, $4 text[] the DAGs' ids.
INSERT INTO dag_catalog_history (
    airflow_instance, dag_id, valid_from, is_paused, is_stale, has_import_errors, owners, tags,
    schedule, schedule_description, max_active_runs, fileloc, in_airflow, recorded_by_run_id,
    timetable_kind, timetable_expression, timetable_delta_seconds,
    timetable_trigger_interval_seconds, time_zone, start_date, end_date)
SELECT c.airflow_instance, c.dag_id, $2::timestamptz, c.is_paused, c.is_stale,
       c.has_import_errors, c.owners, c.tags, c.schedule, c.schedule_description,
       c.max_active_runs, c.fileloc, c.in_airflow, $3::uuid, c.timetable_kind,
       c.timetable_expression, c.timetable_delta_seconds, c.timetable_trigger_interval_seconds,
       c.time_zone, c.start_date, c.end_date
FROM dag_catalog AS c
WHERE c.airflow_instance = $1::text
  AND c.dag_id = ANY ($4::text[])
-- A DAG that has a current span already (which the caller does not name) is skipped by the
-- unique index on current spans, as is a second span from the same reading.
ON CONFLICT DO NOTHING
