-- Writes an instance's dag_schedule_daily rows for some days and the missing slots of those
-- days: the slots pipewatch expanded (each with its DAG, due time, data interval start and
-- day) are matched to the scheduled and backfill runs with that data interval end; a slot
-- without one is missing.
-- Grain: one dag_schedule_daily row per (dag_id, day) given; one dag_schedule_missed row per
-- slot without a run. Params: $1 airflow_instance, $2 the invocation's run id, $3 judged_until;
-- the day rows $4 text[] dag_id, $5 date[] day, $6 text[] timetable kind, $7 integer[]
-- expected runs (NULL: not expanded), $8 float8[] eligible seconds, $9 text[] note; the slots
-- $10 text[] dag_id, $11 timestamptz[] due at, $12 timestamptz[] data interval start, $13
-- date[] day; $14 the earliest due time, $15 the latest, $16 text[] the DAGs with slots.
WITH slot AS (
    SELECT *
    FROM unnest($10::text[], $11::timestamptz[], $12::timestamptz[], $13::date[])
         AS s(dag_id, due_at, interval_start, day)
),
runs AS (
    SELECT DISTINCT r.dag_id::text AS dag_id, r.data_interval_end
    FROM dag_run_history AS r
    WHERE r.airflow_instance = $1::text
      AND r.dag_id = ANY ($16::text[])
      AND r.data_interval_end >= $14::timestamptz
      AND r.data_interval_end <= $15::timestamptz
      AND r.run_type IN ('scheduled', 'backfill')
),
judged AS (
    SELECT s.*, r.dag_id IS NOT NULL AS has_run
    FROM slot AS s
    LEFT JOIN runs AS r ON r.dag_id = s.dag_id AND r.data_interval_end = s.due_at
),
missed AS (
    INSERT INTO dag_schedule_missed (
        airflow_instance, dag_id, due_at, day, data_interval_start, computed_by_run_id)
    SELECT $1::text, j.dag_id, j.due_at, j.day, j.interval_start, $2::uuid
    FROM judged AS j
    WHERE NOT j.has_run
    ON CONFLICT (airflow_instance, dag_id, due_at) DO UPDATE
    SET day = EXCLUDED.day,
        data_interval_start = EXCLUDED.data_interval_start,
        computed_by_run_id = EXCLUDED.computed_by_run_id
    RETURNING 1
),
counts AS (
    SELECT j.dag_id, j.day, count(*) FILTER (WHERE j.has_run)::integer AS actual
    FROM judged AS j
    GROUP BY j.dag_id, j.day
),
daily AS (
    INSERT INTO dag_schedule_daily (
        airflow_instance, day, dag_id, timetable_kind, expected_runs, actual_runs, missing_runs,
        eligible_seconds, judged_until, note, computed_by_run_id)
    SELECT $1::text, d.day, d.dag_id, d.kind, d.expected,
           CASE WHEN d.expected IS NOT NULL THEN coalesce(c.actual, 0) END,
           d.expected - coalesce(c.actual, 0),
           d.eligible, $3::timestamptz, d.note, $2::uuid
    FROM unnest($4::text[], $5::date[], $6::text[], $7::integer[], $8::float8[], $9::text[])
         AS d(dag_id, day, kind, expected, eligible, note)
    LEFT JOIN counts AS c ON c.dag_id = d.dag_id AND c.day = d.day
    RETURNING 1
)
SELECT (SELECT count(*) FROM daily) AS daily, (SELECT count(*) FROM missed) AS missed
