-- Judges the runtime objectives: each run of a matched DAG (or, with a task, that task of it)
-- that succeeded, or is still running, must take no longer than the bound: the median plus K
-- median absolute deviations of the runtimes of its last N successful runs (or tasks), judged
-- only with at least 5 of them. A failed one is not judged (the success rate says it). Due at
-- its start plus the bound. Only the runs that started since each DAG's earliest start to judge
-- (runtime_since.sql) are judged.
-- Grain: one row written per (objective, airflow_instance, dag_id, run) judged; returns one
-- row per day written, with the judgements due on it.
-- Params: $1 objective labels, $2 instances, $3 dag ids, $4 task ids or NULL, $5 K, $6 N, $7
-- the earliest starts to judge (one entry per objective and DAG), $8 reporting time zone, $9
-- run id, $10 the largest N.
WITH written AS (
INSERT INTO objective_run AS o (objective, airflow_instance, dag_id, judged_key, kind, task_id,
                                run_id, runs, day, due_at, landed_at, status, minutes_late,
                                runtime_seconds, bound_seconds, note, judged_at,
                                judged_by_run_id)
WITH dag AS (
    SELECT * FROM unnest($1::text[], $2::text[], $3::text[], $4::text[], $5::double precision[],
                         $6::integer[], $7::timestamptz[])
        AS d (objective, airflow_instance, dag_id, task_id, k, n, since)
), unit AS (
    -- The runs judged: their unit succeeded or is still running.
    SELECT d.objective, d.task_id, d.k, d.n, d.airflow_instance, d.dag_id,
           r.run_id::text AS run_id, r.start_date, u.ok, u.started_at, u.landed_at
    FROM dag AS d
    JOIN dag_run_history AS r
      ON r.airflow_instance = d.airflow_instance AND r.dag_id = d.dag_id
     AND r.start_date >= d.since
    CROSS JOIN LATERAL objective_unit(r.airflow_instance, r.dag_id::text, r.run_id::text,
                                      r.state::text, r.start_date, r.end_date, d.task_id) AS u
    WHERE u.started_at IS NOT NULL AND (u.ok OR r.state = 'running')
), succeeded AS (
    -- The successful ones in start order: those judged, after the last N before them.
    SELECT u.objective, u.airflow_instance, u.dag_id, u.task_id, u.k, u.n, u.run_id,
           u.start_date, u.started_at, u.landed_at,
           extract(epoch FROM u.landed_at - u.started_at) AS seconds, true AS judged
    FROM unit AS u
    WHERE u.ok
    UNION ALL
    SELECT d.objective, d.airflow_instance, d.dag_id, d.task_id, d.k, d.n, h.run_id,
           h.start_date, NULL, NULL, h.seconds, false
    FROM dag AS d
    CROSS JOIN LATERAL objective_recent_runs(d.airflow_instance, d.dag_id, d.task_id, d.since,
                                             d.n) AS h
), framed AS (
    -- Each one's predecessors by a window (a lookup per run cost twice as much).
    SELECT s.*,
           array_agg(s.seconds) OVER (
               PARTITION BY s.objective, s.airflow_instance, s.dag_id
               ORDER BY s.start_date, s.run_id
               ROWS BETWEEN $10 PRECEDING AND 1 PRECEDING) AS before
    FROM succeeded AS s
), recent AS MATERIALIZED (
    -- Materialized: else PostgreSQL evaluates it once for each use below.
    SELECT f.objective, f.airflow_instance, f.dag_id, f.task_id, f.k, f.run_id, f.started_at,
           f.landed_at, f.before[greatest(1, cardinality(f.before) - f.n + 1):] AS recent
    FROM framed AS f
    WHERE f.judged
    UNION ALL
    -- A run still running: the last N before it.
    SELECT u.objective, u.airflow_instance, u.dag_id, u.task_id, u.k, u.run_id, u.started_at,
           u.landed_at, (SELECT array_agg(h.seconds)
                         FROM objective_recent_runs(u.airflow_instance, u.dag_id, u.task_id,
                                                    u.start_date, u.n) AS h)
    FROM unit AS u
    WHERE NOT u.ok
), bounded AS (
    SELECT r.*, b.median + r.k * m.mad AS bound_seconds,
           extract(epoch FROM coalesce(r.landed_at, now()) - r.started_at) AS runtime_seconds
    FROM recent AS r
    CROSS JOIN LATERAL (
        SELECT percentile_cont(0.5) WITHIN GROUP (ORDER BY x) AS median FROM unnest(r.recent) AS x
    ) AS b
    CROSS JOIN LATERAL (
        SELECT percentile_cont(0.5) WITHIN GROUP (ORDER BY abs(x - b.median)) AS mad
        FROM unnest(r.recent) AS x
    ) AS m
    WHERE cardinality(r.recent) >= 5
)
SELECT b.objective, b.airflow_instance, b.dag_id, b.run_id, 'runtime', b.task_id, b.run_id, 1,
       ((b.started_at + make_interval(secs => b.bound_seconds)) AT TIME ZONE $8::text)::date,
       b.started_at + make_interval(secs => b.bound_seconds), b.landed_at,
       CASE WHEN b.runtime_seconds <= b.bound_seconds THEN CASE WHEN b.landed_at IS NULL
                                                             THEN 'pending' ELSE 'met' END
            ELSE 'missed' END,
       greatest(0, b.runtime_seconds - b.bound_seconds) / 60,
       b.runtime_seconds, b.bound_seconds,
       CASE WHEN b.landed_at IS NULL THEN 'still running' END,
       now(), $9::uuid
FROM bounded AS b
ON CONFLICT ON CONSTRAINT objective_run_pkey DO UPDATE
SET kind = EXCLUDED.kind, task_id = EXCLUDED.task_id, run_id = EXCLUDED.run_id,
    runs = EXCLUDED.runs, day = EXCLUDED.day, due_at = EXCLUDED.due_at,
    landed_at = EXCLUDED.landed_at, expected_at = NULL, status = EXCLUDED.status,
    minutes_late = EXCLUDED.minutes_late, runtime_seconds = EXCLUDED.runtime_seconds,
    bound_seconds = EXCLUDED.bound_seconds, note = EXCLUDED.note,
    judged_at = EXCLUDED.judged_at, judged_by_run_id = EXCLUDED.judged_by_run_id
RETURNING o.day
)
SELECT day, count(*) AS judgements FROM written GROUP BY day
