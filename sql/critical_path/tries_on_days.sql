-- The finished DAG runs of some days with every task try, for the critical-path walk
-- (src/critical_path): one row per try, in run order, so pipewatch walks one run at a time
-- while the rows stream. A run without any try in task_run_history (task instances not
-- extracted, or not yet) is left out: there is nothing to walk, and no row is written for it.
-- Grain: one row per (run, try). Params: $1 text[] instances and $2 date[] days (pairs), $3
-- reporting time zone. A finished run is in state success or failed with a start and an end.
SELECT r.airflow_instance, r.dag_id, r.run_id, r.day, h.start_date AS run_start,
       h.end_date AS run_end, h.dag_version AS run_version,
       t.task_id, t.map_index, t.try_number, t.start_date, t.end_date, t.queued_at,
       t.scheduled_at, t.pool, t.pool_slots, t.queue, t.dag_version
FROM (
    SELECT DISTINCT p.airflow_instance, p.day, h.dag_id, h.run_id
    FROM unnest($1::text[], $2::date[]) AS p (airflow_instance, day)
    JOIN dag_run_history AS h
      ON h.airflow_instance = p.airflow_instance
     AND coalesce(h.execution_date, h.run_after) >= (p.day::timestamp AT TIME ZONE $3::text)
     AND coalesce(h.execution_date, h.run_after) < ((p.day + 1)::timestamp AT TIME ZONE $3::text)
     AND (coalesce(h.execution_date, h.run_after) AT TIME ZONE $3::text)::date = p.day
    WHERE h.state IN ('success', 'failed')
      AND h.start_date IS NOT NULL AND h.end_date IS NOT NULL
) AS r
JOIN dag_run_history AS h
  ON h.airflow_instance = r.airflow_instance AND h.dag_id = r.dag_id AND h.run_id = r.run_id
JOIN task_run_history AS t
  ON t.airflow_instance = r.airflow_instance AND t.dag_id = r.dag_id AND t.run_id = r.run_id
ORDER BY r.airflow_instance, r.dag_id, r.run_id
