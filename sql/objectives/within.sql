-- Judges the within objectives: each run of a matched DAG must end successfully (or, with a
-- task, that task of it) within its objective's delay after its reference time: the end of its
-- data interval or its run_after (scheduled runs), or when it was queued (every run but
-- backfills). A slot of dag_schedule_missed (a run that never came) is missed, due at the slot
-- plus the delay. Only judgements due since each DAG's earliest time to judge
-- (within_since.sql) are written.
-- Grain: one row written per (objective, airflow_instance, dag_id, run or missing slot);
-- returns one row per day written, with the judgements due on it.
-- Params: $1 objective labels, $2 instances, $3 dag ids, $4 task ids or NULL, $5 delays in
-- seconds, $6 references ('data_interval_end', 'run_after' or 'queued'), $7 the earliest due
-- times to judge (one entry per objective and DAG), $8 reporting time zone, $9 run id.
WITH written AS (
INSERT INTO objective_run AS o (objective, airflow_instance, dag_id, judged_key, kind, task_id,
                                run_id, runs, day, due_at, landed_at, expected_at, status,
                                minutes_late, note, judged_at, judged_by_run_id)
WITH dag AS (
    SELECT d.objective, d.airflow_instance, d.dag_id, d.task_id, d.reference, d.since,
           make_interval(secs => d.seconds) AS delay
    FROM unnest($1::text[], $2::text[], $3::text[], $4::text[], $5::double precision[],
                $6::text[], $7::timestamptz[])
        AS d (objective, airflow_instance, dag_id, task_id, seconds, reference, since)
), run AS (
    SELECT d.objective, d.task_id, d.airflow_instance, d.dag_id, d.since,
           r.run_id::text AS run_id, r.state, r.start_date, r.end_date,
           CASE d.reference WHEN 'data_interval_end' THEN r.data_interval_end
                            ELSE coalesce(r.run_after, r.data_interval_end) END + d.delay AS due_at
    FROM dag AS d
    JOIN dag_run_history AS r
      ON r.airflow_instance = d.airflow_instance AND r.dag_id = d.dag_id
     AND r.run_type IN ('scheduled', 'backfill') AND r.run_type = 'scheduled'
     -- an index range (dag_run_history_interval_end_idx); run_after is a scheduled run's
     -- data interval end, give or take the trigger's interval
     AND r.data_interval_end >= d.since - d.delay - interval '1 day'
    WHERE d.reference IN ('data_interval_end', 'run_after')
    UNION ALL
    SELECT d.objective, d.task_id, d.airflow_instance, d.dag_id, d.since, r.run_id::text,
           r.state, r.start_date, r.end_date, r.queued_at + d.delay
    FROM dag AS d
    JOIN dag_run_history AS r
      ON r.airflow_instance = d.airflow_instance AND r.dag_id = d.dag_id
     AND r.run_type <> 'backfill' AND r.queued_at >= d.since - d.delay
    WHERE d.reference = 'queued'
), unit AS (
    SELECT r.objective, r.task_id, r.airflow_instance, r.dag_id, r.run_id, r.state, r.due_at,
           u.ok, u.started_at, u.landed_at
    FROM run AS r
    CROSS JOIN LATERAL objective_unit(r.airflow_instance, r.dag_id, r.run_id, r.state::text,
                                      r.start_date, r.end_date, r.task_id) AS u
    WHERE r.due_at >= r.since
), judged AS (
    SELECT u.objective, u.task_id, u.airflow_instance, u.dag_id, u.run_id AS judged_key,
           u.run_id, 1 AS runs, u.due_at,
           u.landed_at, u.state IN ('failed', 'upstream_failed') AS failed,
           CASE WHEN u.landed_at IS NULL AND u.started_at IS NOT NULL
                THEN u.started_at + make_interval(secs => objective_typical_seconds(
                         u.airflow_instance, u.dag_id, u.task_id, u.started_at))
           END AS expected_at,
           false AS never_came
    FROM unit AS u
    UNION ALL
    SELECT d.objective, d.task_id, d.airflow_instance, d.dag_id,
           objective_missing_key(m.due_at),
           NULL, 0, m.due_at + d.delay, NULL, false, NULL, true
    FROM dag AS d
    JOIN dag_schedule_missed AS m
      ON m.airflow_instance = d.airflow_instance AND m.dag_id = d.dag_id
     AND m.due_at >= d.since - d.delay
)
SELECT j.objective, j.airflow_instance, j.dag_id, j.judged_key, 'within', j.task_id, j.run_id,
       j.runs, (j.due_at AT TIME ZONE $8::text)::date, j.due_at, j.landed_at, j.expected_at,
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
       now(), $9::uuid
FROM judged AS j
ON CONFLICT ON CONSTRAINT objective_run_pkey DO UPDATE
SET kind = EXCLUDED.kind, task_id = EXCLUDED.task_id, run_id = EXCLUDED.run_id,
    runs = EXCLUDED.runs, day = EXCLUDED.day, due_at = EXCLUDED.due_at,
    landed_at = EXCLUDED.landed_at, expected_at = EXCLUDED.expected_at,
    status = EXCLUDED.status, minutes_late = EXCLUDED.minutes_late,
    runtime_seconds = NULL, bound_seconds = NULL, note = EXCLUDED.note,
    judged_at = EXCLUDED.judged_at, judged_by_run_id = EXCLUDED.judged_by_run_id
RETURNING o.day
)
SELECT day, count(*) AS judgements FROM written GROUP BY day
