-- Judges the runtime objectives: each run of a matched DAG (or, with a task, that task of it)
-- that succeeded, or is still running, must take no longer than the bound: the median plus K
-- median absolute deviations of the runtimes of its last N successful runs (or tasks) among
-- the 200 runs that started before it within 60 days, judged only with at least 5 of them. A
-- failed one is not judged (the success rate says it). Due at its start plus the bound; only
-- judgements due in [$7, $8) are written (runs started up to 2 days before $7 are looked at).
-- Grain: one row written per (objective, airflow_instance, dag_id, run) judged.
-- Params: $1 objective labels, $2 instances, $3 dag ids, $4 task ids or NULL, $5 K, $6 N (one
-- entry per objective and DAG), $7 and $8 the due range, $9 reporting time zone, $10 run id.
INSERT INTO objective_run AS o (objective, airflow_instance, dag_id, judged_key, kind, task_id,
                                run_id, runs, day, due_at, landed_at, status, minutes_late,
                                runtime_seconds, bound_seconds, note, judged_at,
                                judged_by_run_id)
WITH dag AS (
    SELECT * FROM unnest($1::text[], $2::text[], $3::text[], $4::text[], $5::double precision[],
                         $6::bigint[]) AS d (objective, airflow_instance, dag_id, task_id, k, n)
), hist AS (
    -- The runs judged and the 60 days before them, with what the objective judges of each.
    SELECT d.objective, d.task_id, d.k, d.n, d.airflow_instance, d.dag_id,
           r.run_id::text AS run_id, r.state, u.ok, u.started_at, u.landed_at,
           extract(epoch FROM u.landed_at - u.started_at) AS seconds
    FROM dag AS d
    JOIN dag_run_history AS r
      ON r.airflow_instance = d.airflow_instance AND r.dag_id = d.dag_id
     AND r.start_date >= $7::timestamptz - interval '62 days' AND r.start_date < $8::timestamptz
    CROSS JOIN LATERAL objective_unit(r.airflow_instance, r.dag_id::text, r.run_id::text,
                                      r.state::text, r.start_date, r.end_date, d.task_id) AS u
    WHERE u.started_at IS NOT NULL
), framed AS (
    -- The runtimes of the successful ones among the 200 runs that started before each.
    SELECT h.*,
           array_agg(h.seconds) FILTER (WHERE h.ok) OVER (
               PARTITION BY h.objective, h.airflow_instance, h.dag_id
               ORDER BY h.started_at, h.run_id
               ROWS BETWEEN 200 PRECEDING AND 1 PRECEDING) AS before
    FROM hist AS h
), unit AS (
    SELECT f.*, f.before[greatest(1, cardinality(f.before) - f.n + 1):] AS recent
    FROM framed AS f
    WHERE f.started_at >= $7::timestamptz - interval '2 days' AND (f.ok OR f.state = 'running')
), bounded AS (
    SELECT u.*, b.judged_by, b.median + u.k * m.mad AS bound_seconds,
           extract(epoch FROM coalesce(u.landed_at, now()) - u.started_at) AS runtime_seconds
    FROM unit AS u
    CROSS JOIN LATERAL (
        SELECT count(*) AS judged_by,
               percentile_cont(0.5) WITHIN GROUP (ORDER BY x) AS median
        FROM unnest(u.recent) AS x
    ) AS b
    CROSS JOIN LATERAL (
        SELECT percentile_cont(0.5) WITHIN GROUP (ORDER BY abs(x - b.median)) AS mad
        FROM unnest(u.recent) AS x
    ) AS m
    WHERE b.judged_by >= 5
)
SELECT b.objective, b.airflow_instance, b.dag_id, b.run_id, 'runtime', b.task_id, b.run_id, 1,
       ((b.started_at + make_interval(secs => b.bound_seconds)) AT TIME ZONE $9::text)::date,
       b.started_at + make_interval(secs => b.bound_seconds), b.landed_at,
       CASE WHEN b.runtime_seconds <= b.bound_seconds THEN CASE WHEN b.landed_at IS NULL
                                                             THEN 'pending' ELSE 'met' END
            ELSE 'missed' END,
       greatest(0, b.runtime_seconds - b.bound_seconds) / 60,
       b.runtime_seconds, b.bound_seconds,
       CASE WHEN b.landed_at IS NULL THEN 'still running' END,
       now(), $10::uuid
FROM bounded AS b
WHERE b.started_at + make_interval(secs => b.bound_seconds) >= $7::timestamptz
  AND b.started_at + make_interval(secs => b.bound_seconds) < $8::timestamptz
ON CONFLICT ON CONSTRAINT objective_run_pkey DO UPDATE
SET kind = EXCLUDED.kind, task_id = EXCLUDED.task_id, run_id = EXCLUDED.run_id,
    runs = EXCLUDED.runs, day = EXCLUDED.day, due_at = EXCLUDED.due_at,
    landed_at = EXCLUDED.landed_at, expected_at = NULL, status = EXCLUDED.status,
    minutes_late = EXCLUDED.minutes_late, runtime_seconds = EXCLUDED.runtime_seconds,
    bound_seconds = EXCLUDED.bound_seconds, note = EXCLUDED.note,
    judged_at = EXCLUDED.judged_at, judged_by_run_id = EXCLUDED.judged_by_run_id
