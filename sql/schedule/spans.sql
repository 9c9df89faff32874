-- The catalogue history of an instance's DAGs over a window: each span with the DAG's state
-- (paused, stale, import errors, present) and its timetable facts.
-- Grain: one row per dag_catalog_history span overlapping the window. Params: $1
-- airflow_instance, $2 the window's start, $3 its end.
SELECT h.dag_id::text AS dag_id,
       h.valid_from,
       h.valid_to,
       h.is_paused,
       h.is_stale,
       h.has_import_errors,
       h.in_airflow,
       h.timetable_kind,
       h.timetable_expression,
       h.timetable_delta_seconds,
       h.timetable_trigger_interval_seconds,
       h.time_zone,
       h.start_date,
       h.end_date
FROM dag_catalog_history AS h
WHERE h.airflow_instance = $1::text
  AND h.valid_from < $3::timestamptz
  AND (h.valid_to IS NULL OR h.valid_to > $2::timestamptz)
ORDER BY h.dag_id, h.valid_from
