-- Judges the lands_by objectives: for each matched DAG and each due time of its objective (the
-- local time of a day of the objective's calendar), the scheduled and backfill runs whose data
-- interval ends after the previous day's due time and by this one must all have ended
-- successfully by it (or, with a task, that task of each of them); a slot of
-- dag_schedule_missed in that window (a run that never came) makes it missed. A window with
-- neither runs nor missing slots is not judged.
-- Grain: one row written per (objective, airflow_instance, dag_id, due time) judged.
-- Params: $1 objective labels, $2 instances, $3 dag ids, $4 task ids or NULL (one entry per
-- objective and DAG), $5 objective labels, $6 due times, $7 the previous day's due times (one
-- entry per objective and due time), $8 reporting time zone, $9 run id.
INSERT INTO objective_run AS o (objective, airflow_instance, dag_id, judged_key, kind, task_id,
                                run_id, runs, day, due_at, landed_at, expected_at, status,
                                minutes_late, note, judged_at, judged_by_run_id)
WITH dag AS (
    SELECT * FROM unnest($1::text[], $2::text[], $3::text[], $4::text[])
        AS d (objective, airflow_instance, dag_id, task_id)
), win AS (
    SELECT * FROM unnest($5::text[], $6::timestamptz[], $7::timestamptz[])
        AS w (objective, due_at, window_start)
), pair AS MATERIALIZED (
    -- Each DAG with each due time of its objective, first: joined the other way round (the
    -- DAGs' runs first, then the windows), PostgreSQL compared every run with every window
    -- (16.6 s at 10,000 DAGs).
    SELECT d.objective, d.task_id, d.airflow_instance, d.dag_id, w.due_at, w.window_start
    FROM dag AS d
    JOIN win AS w ON w.objective = d.objective
), unit AS (
    SELECT d.objective, d.task_id, d.airflow_instance, d.dag_id, d.due_at, r.run_id, r.state,
           r.data_interval_end, u.ok, u.started_at, u.landed_at
    FROM pair AS d
    JOIN dag_run_history AS r
      ON r.airflow_instance = d.airflow_instance AND r.dag_id = d.dag_id
     AND r.run_type IN ('scheduled', 'backfill')
     AND r.data_interval_end > d.window_start AND r.data_interval_end <= d.due_at
    CROSS JOIN LATERAL objective_unit(r.airflow_instance, r.dag_id::text, r.run_id::text,
                                      r.state::text, r.start_date, r.end_date, d.task_id) AS u
), missing AS (
    SELECT d.objective, d.task_id, d.airflow_instance, d.dag_id, d.due_at, count(*) AS slots
    FROM pair AS d
    JOIN dag_schedule_missed AS m
      ON m.airflow_instance = d.airflow_instance AND m.dag_id = d.dag_id
     AND m.due_at > d.window_start AND m.due_at <= d.due_at
    GROUP BY d.objective, d.task_id, d.airflow_instance, d.dag_id, d.due_at
), runs AS (
    SELECT objective, task_id, airflow_instance, dag_id, due_at,
           count(*) AS runs,
           (array_agg(run_id ORDER BY data_interval_end DESC))[1] AS last_run_id,
           bool_and(coalesce(ok, false)) AS all_ok,
           bool_or(state IN ('failed', 'upstream_failed')) AS failed,
           max(landed_at) AS landed_at,
           min(started_at) FILTER (WHERE landed_at IS NULL) AS waiting_since
    FROM unit
    GROUP BY objective, task_id, airflow_instance, dag_id, due_at
), judged AS (
    -- The runs and the missing slots of each window, put together by one aggregation (no join
    -- between the two: its planner estimates go wrong with thousands of DAGs).
    SELECT objective, task_id, airflow_instance, dag_id, due_at,
           max(runs) AS runs, max(last_run_id) AS last_run_id, bool_or(failed) AS failed,
           sum(slots) AS slots,
           CASE WHEN bool_and(all_ok) AND sum(slots) = 0 THEN max(landed_at) END AS landed_at,
           min(waiting_since) AS waiting_since
    FROM (SELECT objective, task_id, airflow_instance, dag_id, due_at, runs, last_run_id,
                 failed, 0 AS slots, all_ok, landed_at, waiting_since
          FROM runs
          UNION ALL
          SELECT objective, task_id, airflow_instance, dag_id, due_at, NULL, NULL, NULL, slots,
                 NULL, NULL, NULL
          FROM missing) AS k
    GROUP BY objective, task_id, airflow_instance, dag_id, due_at
), expected AS (
    SELECT j.*,
           CASE WHEN j.landed_at IS NULL AND j.waiting_since IS NOT NULL
                THEN j.waiting_since + make_interval(secs => objective_typical_seconds(
                         j.airflow_instance, j.dag_id, j.task_id, j.waiting_since))
           END AS expected_at
    FROM judged AS j
)
SELECT e.objective, e.airflow_instance, e.dag_id,
       to_char(e.due_at AT TIME ZONE 'UTC', 'YYYY-MM-DD"T"HH24:MI:SS"Z"'),
       'lands_by', e.task_id, e.last_run_id, coalesce(e.runs, 0),
       (e.due_at AT TIME ZONE $8::text)::date, e.due_at, e.landed_at, e.expected_at,
       CASE WHEN e.landed_at IS NOT NULL
                THEN CASE WHEN e.landed_at <= e.due_at THEN 'met' ELSE 'missed' END
            WHEN now() >= e.due_at THEN 'missed'
            WHEN e.slots > 0 OR e.failed OR e.expected_at > e.due_at THEN 'at_risk'
            ELSE 'pending' END,
       CASE WHEN e.landed_at IS NOT NULL
                THEN greatest(0, extract(epoch FROM e.landed_at - e.due_at)) / 60
            WHEN e.slots > 0 OR e.failed THEN 0
            ELSE greatest(0, extract(epoch FROM now() - e.due_at)) / 60 END,
       nullif(concat_ws('; ',
                 CASE WHEN e.slots > 0 THEN e.slots || ' scheduled run(s) never came' END,
                 CASE WHEN e.failed THEN 'failed' END,
                 CASE WHEN e.landed_at IS NULL AND e.runs > 0 AND NOT coalesce(e.failed, false)
                      THEN 'not landed yet' END), ''),
       now(), $9::uuid
FROM expected AS e
ON CONFLICT ON CONSTRAINT objective_run_pkey DO UPDATE
SET kind = EXCLUDED.kind, task_id = EXCLUDED.task_id, run_id = EXCLUDED.run_id,
    runs = EXCLUDED.runs, day = EXCLUDED.day, due_at = EXCLUDED.due_at,
    landed_at = EXCLUDED.landed_at, expected_at = EXCLUDED.expected_at,
    status = EXCLUDED.status, minutes_late = EXCLUDED.minutes_late,
    runtime_seconds = NULL, bound_seconds = NULL, note = EXCLUDED.note,
    judged_at = EXCLUDED.judged_at, judged_by_run_id = EXCLUDED.judged_by_run_id
