-- Writes an instance's dag_schedule_daily rows for some days, and the missing slots of those
-- days, as pipewatch computed them (src/expected_runs.rs: the slots expanded, matched to the
-- runs of sql/schedule/runs.sql).
-- Grain: one dag_schedule_daily row per (dag_id, day) given; one dag_schedule_missed row per
-- missing slot given. Params: $1 airflow_instance, $2 the invocation's run id, $3 judged_until;
-- the day rows $4 text[] dag_id, $5 date[] day, $6 text[] timetable kind, $7 integer[]
-- expected runs (NULL: not expanded), $8 integer[] actual runs, $9 float8[] eligible seconds,
-- $10 text[] note; the missing slots $11 text[] dag_id, $12 timestamptz[] due at, $13
-- timestamptz[] data interval start, $14 date[] day.
WITH missed AS (
    INSERT INTO dag_schedule_missed (
        airflow_instance, dag_id, due_at, day, data_interval_start, computed_by_run_id)
    SELECT $1::text, m.dag_id, m.due_at, m.day, m.interval_start, $2::uuid
    FROM unnest($11::text[], $12::timestamptz[], $13::timestamptz[], $14::date[])
         AS m(dag_id, due_at, interval_start, day)
    ON CONFLICT (airflow_instance, dag_id, due_at) DO UPDATE
    SET day = EXCLUDED.day,
        data_interval_start = EXCLUDED.data_interval_start,
        computed_by_run_id = EXCLUDED.computed_by_run_id
    RETURNING 1
),
daily AS (
    INSERT INTO dag_schedule_daily (
        airflow_instance, day, dag_id, timetable_kind, expected_runs, actual_runs, missing_runs,
        eligible_seconds, judged_until, note, computed_by_run_id)
    SELECT $1::text, d.day, d.dag_id, d.kind, d.expected, d.actual, d.expected - d.actual,
           d.eligible, $3::timestamptz, d.note, $2::uuid
    FROM unnest($4::text[], $5::date[], $6::text[], $7::integer[], $8::integer[], $9::float8[],
                $10::text[])
         AS d(dag_id, day, kind, expected, actual, eligible, note)
    RETURNING 1
)
SELECT (SELECT count(*) FROM daily) AS daily, (SELECT count(*) FROM missed) AS missed
