-- Finished task tries per day in an Airflow 3 metadata database, for pipewatch reconcile, and
-- the earlier tries Airflow itself did not keep: the current try of each task instance (unless
-- task_instance_history holds the same try) and every earlier try, of the runs whose logical
-- date (run_after when NULL) falls in the window.
-- Grain: one row per day with at least one finished try or one lost try.
-- Params: $1 reporting time zone, $2 first day, $3 last day (inclusive), $4 count only rows
-- Airflow last changed at or before this time (the clock of the newest loaded extract).
-- Reads the task tables of the window's runs once, by Airflow's indexes, and only groups what
-- it read (no join of tries with tries), so the cost is linear in the window's tries whatever
-- the planner's statistics say (a freshly filled, never analyzed table included).
WITH runs AS MATERIALIZED (
    SELECT dag_id, run_id, (coalesce(logical_date, run_after) AT TIME ZONE $1::text)::date AS day
    FROM dag_run
    WHERE coalesce(logical_date, run_after) >= ($2::date::timestamp AT TIME ZONE $1::text)
      AND coalesce(logical_date, run_after) < (($3::date + 1)::timestamp AT TIME ZONE $1::text)
      AND (updated_at IS NULL OR updated_at <= $4::timestamptz)
),
tries AS (
    -- The current try of each task instance of those runs (by Airflow's ti_dag_run index).
    SELECT r.day, ti.dag_id, ti.task_id, ti.run_id, ti.map_index, ti.try_number, ti.state,
           ti.updated_at, false AS earlier
    FROM runs AS r
    JOIN task_instance AS ti ON ti.dag_id = r.dag_id AND ti.run_id = r.run_id
    UNION ALL
    -- Their earlier tries (by task_instance_history's (dag_id, task_id, run_id, map_index,
    -- try_number) unique index).
    SELECT r.day, h.dag_id, h.task_id, h.run_id, h.map_index, h.try_number, h.state,
           h.updated_at, true
    FROM runs AS r
    JOIN task_instance_history AS h ON h.dag_id = r.dag_id AND h.run_id = r.run_id
),
per_try AS (
    -- Every try once: a current try that task_instance_history also holds (a cleared task's
    -- ended try) counts as the history row, as the extract keeps it.
    SELECT day, dag_id, task_id, run_id, map_index, try_number,
           (array_agg(state ORDER BY earlier DESC))[1]      AS state,
           (array_agg(updated_at ORDER BY earlier DESC))[1] AS updated_at,
           bool_or(NOT earlier)                              AS is_current,
           bool_and(earlier)                                 AS history_only
    FROM tries
    GROUP BY day, dag_id, task_id, run_id, map_index, try_number
),
finished AS (
    SELECT day, count(*) AS finished_tries
    FROM per_try
    WHERE state IN ('success', 'failed', 'skipped', 'upstream_failed')
      AND (updated_at IS NULL OR updated_at <= $4::timestamptz)
    GROUP BY day
),
gaps AS (
    -- Per task instance: its current try number minus 1, minus the earlier tries
    -- task_instance_history holds: what Airflow lost.
    SELECT day, min(dag_id || '.' || task_id || ' in run ' || run_id) AS instance,
           max(try_number) FILTER (WHERE is_current) - 1
               - count(*) FILTER (WHERE history_only) AS missing
    FROM per_try
    GROUP BY day, dag_id, task_id, run_id, map_index
),
lost AS (
    SELECT day, count(*) AS instances_missing_tries, sum(missing)::bigint AS missing_tries,
           min(instance) AS missing_example
    FROM gaps
    WHERE missing > 0
    GROUP BY day
)
SELECT coalesce(f.day, l.day) AS day,
       coalesce(f.finished_tries, 0)::bigint AS finished_tries,
       coalesce(l.instances_missing_tries, 0)::bigint AS instances_missing_tries,
       coalesce(l.missing_tries, 0)::bigint AS missing_tries,
       l.missing_example
FROM finished AS f
FULL JOIN lost AS l ON l.day = f.day
ORDER BY 1
