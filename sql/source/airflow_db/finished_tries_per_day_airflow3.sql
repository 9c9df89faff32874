-- Finished task tries per day in an Airflow 3 metadata database, for pipewatch reconcile:
-- the current try of each task instance (unless task_instance_history holds the same try) and
-- every earlier try, of the runs whose logical date (run_after when NULL) falls in the window.
-- Grain: one row per day with at least one finished try.
-- Params: $1 reporting time zone, $2 first day, $3 last day (inclusive), $4 count only rows
-- Airflow last changed at or before this time (the clock of the newest loaded extract).
-- Reads the task tables of the window's runs in full; reconcile is an occasional check.
WITH runs AS (
    SELECT dag_id, run_id, (coalesce(logical_date, run_after) AT TIME ZONE $1::text)::date AS day
    FROM dag_run
    WHERE coalesce(logical_date, run_after) >= ($2::date::timestamp AT TIME ZONE $1::text)
      AND coalesce(logical_date, run_after) < (($3::date + 1)::timestamp AT TIME ZONE $1::text)
      AND (updated_at IS NULL OR updated_at <= $4::timestamptz)
),
tries AS (
    SELECT ti.dag_id, ti.run_id, ti.state, ti.updated_at
    FROM task_instance AS ti
    JOIN runs AS r ON r.dag_id = ti.dag_id AND r.run_id = ti.run_id
    WHERE NOT EXISTS (
        SELECT 1 FROM task_instance_history AS h
        WHERE h.dag_id = ti.dag_id AND h.task_id = ti.task_id AND h.run_id = ti.run_id
          AND h.map_index = ti.map_index AND h.try_number = ti.try_number)
    UNION ALL
    SELECT h.dag_id, h.run_id, h.state, h.updated_at
    FROM task_instance_history AS h
    JOIN runs AS r ON r.dag_id = h.dag_id AND r.run_id = h.run_id
)
SELECT r.day, count(*) AS finished_tries
FROM tries AS t
JOIN runs AS r ON r.dag_id = t.dag_id AND r.run_id = t.run_id
WHERE t.state IN ('success', 'failed', 'skipped', 'upstream_failed')
  AND (t.updated_at IS NULL OR t.updated_at <= $4::timestamptz)
GROUP BY r.day
ORDER BY r.day
