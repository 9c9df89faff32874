-- Airflow 3's deadlines (deadline, with its run and its alert) whose time falls in the last $1
-- days or later, as one JSON array in the shape sql/catalog/merge_deadlines.sql reads. Airflow
-- deletes a deadline that was met and keeps a missed one (missed = true); one not yet due is
-- there with missed = false.
-- Grain: one row. Params: $1 integer: days back, by deadline_time.
-- Runs against the Airflow metadata database (read-only session), after the catalogue reading.
SELECT coalesce(jsonb_agg(jsonb_build_object(
           'kind', 'deadline',
           'source_key', d.id::text,
           'dag_id', r.dag_id,
           'task_id', NULL,
           'run_id', r.run_id,
           'logical_date', r.logical_date,
           'deadline_time', d.deadline_time,
           'missed', d.missed,
           'recorded_at', d.last_updated_at,
           'alert_name', a.name,
           'description', left(a.description, 10000))), '[]'::jsonb)::text AS deadlines
FROM deadline AS d
LEFT JOIN dag_run AS r ON r.id = d.dagrun_id
LEFT JOIN deadline_alert AS a ON a.id = d.deadline_alert_id
WHERE d.deadline_time >= now() - make_interval(days => $1::integer)
