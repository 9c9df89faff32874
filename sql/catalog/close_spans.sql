-- After a reading was merged into dag_catalog (same transaction): closes, at the reading's
-- time, the current dag_catalog_history span of each DAG of the instance whose tracked
-- attributes changed. sql/catalog/open_spans.sql then opens their new spans. Tracked:
-- is_paused, is_stale, has_import_errors, owners, tags, schedule, schedule_description,
-- max_active_runs, fileloc, in_airflow and the timetable facts (kind, expression, intervals,
-- time zone, start and end dates); not the next-run fields or parse times, which change with
-- every run and parse.
-- Grain: updates one row per changed (airflow_instance, dag_id). Params: $1 airflow_instance,
-- $2 the Airflow clock at the reading. Returns the changed DAGs' ids.
UPDATE dag_catalog_history AS h
SET valid_to = $2::timestamptz
FROM dag_catalog AS c
WHERE h.airflow_instance = $1::text
  AND c.airflow_instance = h.airflow_instance
  AND c.dag_id = h.dag_id
  AND h.valid_to IS NULL
  AND h.valid_from < $2::timestamptz
  AND (h.is_paused, h.is_stale, h.has_import_errors, h.owners, h.tags, h.schedule,
       h.schedule_description, h.max_active_runs, h.fileloc, h.in_airflow, h.timetable_kind,
       h.timetable_expression, h.timetable_delta_seconds, h.timetable_trigger_interval_seconds,
       h.time_zone, h.start_date, h.end_date)
      IS DISTINCT FROM
      (c.is_paused, c.is_stale, c.has_import_errors, c.owners, c.tags, c.schedule,
       c.schedule_description, c.max_active_runs, c.fileloc, c.in_airflow, c.timetable_kind,
       c.timetable_expression, c.timetable_delta_seconds, c.timetable_trigger_interval_seconds,
       c.time_zone, c.start_date, c.end_date)
RETURNING h.dag_id::text
