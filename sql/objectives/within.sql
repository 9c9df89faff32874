-- Judges a within objective: each run of a matched DAG must end successfully (or, with
-- task_id, that task of it) within the delay after its reference time: the end of its data
-- interval or its run_after (scheduled runs), or when it was queued (every run but backfills).
-- A slot of dag_schedule_missed (a run that never came) is missed, due at the slot plus the
-- delay. Only judgements due in [$4, $5) are written.
-- Grain: one row written per (objective, airflow_instance, dag_id, run or missing slot).
-- Params: $1 objective label, $2 instances and $3 dag ids (pairwise), $4 and $5 the due range,
-- $6 task_id or NULL, $7 reporting time zone, $8 run id, $9 delay in seconds, $10 reference
-- ('data_interval_end', 'run_after' or 'queued').
INSERT INTO objective_run AS o (objective, airflow_instance, dag_id, judged_key, kind, task_id,
                                run_id, runs, day, due_at, landed_at, expected_at, status,
                                minutes_late, note, judged_at, judged_by_run_id)
WITH dag AS (
    SELECT * FROM unnest($2::text[], $3::text[]) AS d (airflow_instance, dag_id)
), delay AS (
    SELECT make_interval(secs => $9::double precision) AS delay
), unit AS (
    SELECT d.airflow_instance, d.dag_id, r.run_id::text AS run_id, r.state,
           CASE $10::text WHEN 'data_interval_end' THEN r.data_interval_end
                          WHEN 'run_after' THEN coalesce(r.run_after, r.data_interval_end)
                          ELSE r.queued_at END + delay.delay AS due_at,
           u.ok, u.started_at, u.landed_at
    FROM dag AS d
    CROSS JOIN delay
    JOIN dag_run_history AS r
      ON r.airflow_instance = d.airflow_instance AND r.dag_id = d.dag_id
     AND CASE WHEN $10::text = 'queued' THEN r.run_type <> 'backfill'
              ELSE r.run_type = 'scheduled' END
    CROSS JOIN LATERAL objective_unit(r.airflow_instance, r.dag_id::text, r.run_id::text,
                                      r.state::text, r.start_date, r.end_date, $6::text) AS u
    WHERE CASE $10::text WHEN 'data_interval_end' THEN r.data_interval_end
                         WHEN 'run_after' THEN coalesce(r.run_after, r.data_interval_end)
                         ELSE r.queued_at END + delay.delay >= $4::timestamptz
      AND CASE $10::text WHEN 'data_interval_end' THEN r.data_interval_end
                         WHEN 'run_after' THEN coalesce(r.run_after, r.data_interval_end)
                         ELSE r.queued_at END + delay.delay < $5::timestamptz
), judged AS (
    SELECT u.airflow_instance, u.dag_id, u.run_id AS judged_key, u.run_id, 1 AS runs, u.due_at,
           u.landed_at, u.state IN ('failed', 'upstream_failed') AS failed,
           CASE WHEN u.landed_at IS NULL AND u.started_at IS NOT NULL
                THEN u.started_at + make_interval(secs => t.seconds) END AS expected_at,
           false AS never_came
    FROM unit AS u
    LEFT JOIN LATERAL (
        SELECT percentile_cont(0.5) WITHIN GROUP (ORDER BY x.seconds) AS seconds
        FROM (SELECT extract(epoch FROM pu.landed_at - pu.started_at) AS seconds
              FROM dag_run_history AS p
              CROSS JOIN LATERAL objective_unit(p.airflow_instance, p.dag_id::text,
                                                p.run_id::text, p.state::text, p.start_date,
                                                p.end_date, $6::text) AS pu
              WHERE p.airflow_instance = u.airflow_instance AND p.dag_id = u.dag_id
                AND p.start_date < u.started_at AND pu.ok
              ORDER BY p.start_date DESC
              LIMIT 20) AS x
    ) AS t ON u.landed_at IS NULL AND u.started_at IS NOT NULL
    UNION ALL
    SELECT d.airflow_instance, d.dag_id,
           'missing ' || to_char(m.due_at AT TIME ZONE 'UTC', 'YYYY-MM-DD"T"HH24:MI:SS"Z"'),
           NULL, 0, m.due_at + delay.delay, NULL, false, NULL, true
    FROM dag AS d
    CROSS JOIN delay
    JOIN dag_schedule_missed AS m
      ON m.airflow_instance = d.airflow_instance AND m.dag_id = d.dag_id
     AND m.due_at + delay.delay >= $4::timestamptz AND m.due_at + delay.delay < $5::timestamptz
)
SELECT $1::text, j.airflow_instance, j.dag_id, j.judged_key, 'within', $6::text, j.run_id,
       j.runs, (j.due_at AT TIME ZONE $7::text)::date, j.due_at, j.landed_at, j.expected_at,
       CASE WHEN j.landed_at IS NOT NULL
                THEN CASE WHEN j.landed_at <= j.due_at THEN 'met' ELSE 'missed' END
            WHEN now() >= j.due_at THEN 'missed'
            WHEN j.never_came OR j.failed OR j.expected_at > j.due_at THEN 'at_risk'
            ELSE 'pending' END,
       CASE WHEN j.landed_at IS NOT NULL
                THEN greatest(0, extract(epoch FROM j.landed_at - j.due_at)) / 60
            WHEN j.never_came OR j.failed THEN 0
            ELSE greatest(0, extract(epoch FROM now() - j.due_at)) / 60 END,
       CASE WHEN j.never_came THEN 'the scheduled run never came'
            WHEN j.failed THEN 'failed'
            WHEN j.landed_at IS NULL THEN 'not landed yet' END,
       now(), $8::uuid
FROM judged AS j
ON CONFLICT ON CONSTRAINT objective_run_pkey DO UPDATE
SET kind = EXCLUDED.kind, task_id = EXCLUDED.task_id, run_id = EXCLUDED.run_id,
    runs = EXCLUDED.runs, day = EXCLUDED.day, due_at = EXCLUDED.due_at,
    landed_at = EXCLUDED.landed_at, expected_at = EXCLUDED.expected_at,
    status = EXCLUDED.status, minutes_late = EXCLUDED.minutes_late,
    runtime_seconds = NULL, bound_seconds = NULL, note = EXCLUDED.note,
    judged_at = EXCLUDED.judged_at, judged_by_run_id = EXCLUDED.judged_by_run_id
