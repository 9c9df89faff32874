-- For a full refresh: dag_history_daily, dag_success_daily, dag_runtime_daily and
-- dag_delay_daily for every day, from one read of dag_run_history (after every row of the four
-- was deleted). Each figure means what the model's own file (dag_history_daily.sql,
-- dag_success_daily.sql, dag_runtime_daily.sql, dag_delay_daily.sql, used for the days an
-- incremental transform recomputes) says, and the per-run figures are those of
-- dag_runs_on_days and dag_run_delays_on_days (day_functions.sql); the test
-- incremental_recompute_after_new_runs_equals_a_full_refresh holds the two paths to the same rows.
-- How it is fast (measured at 1M runs, scripts/bench): every run is read once into the CTE
-- "run" (a tuplestore, cheaper than a temporary table); the keys are compared in the "C"
-- collation and grouped day first (grouping needs equality, not a language's order: the
-- database's collation made each comparison a strcoll call); the spans are date_part (double
-- precision) rather than extract (numeric since PostgreSQL 14); sums and averages of runtimes
-- are over whole microseconds (bigint, summed exactly in 128 bits, faster than numeric), so
-- they are independent of the order rows are read in (as in the incremental files).
-- Grain: one row per (airflow_instance, day, dag_id) in dag_success_daily and dag_delay_daily
-- (and dag_runtime_daily where some finished run is timed), per (.., state) in
-- dag_history_daily. Params: $1 reporting time zone, $2 the computing invocation's run id,
-- $3 whether task_run_history has any row (any_task_tries.sql).
-- Returns: one row: rows_written (model rows), instances text[] and days date[] (every
-- (instance, day) that has runs, for task_daily).
-- (tests/it/faults.rs finds this statement under way by its first line.)
WITH run AS MATERIALIZED (
    SELECT h.airflow_instance COLLATE "C" AS airflow_instance,
           (coalesce(h.execution_date, h.run_after) AT TIME ZONE $1::text)::date AS day,
           h.dag_id COLLATE "C" AS dag_id,
           h.state,
           CASE WHEN h.state IN ('success', 'failed')
                THEN date_part('epoch', h.end_date - h.start_date) END AS runtime_seconds,
           date_part('epoch', h.start_date - h.queued_at) AS queue_seconds,
           CASE WHEN h.run_type = 'scheduled'
                THEN date_part('epoch', h.start_date - h.data_interval_end) END
               AS schedule_delay_seconds,
           CASE WHEN h.run_type = 'scheduled' AND h.state IN ('success', 'failed')
                THEN date_part('epoch', h.end_date - h.data_interval_end) END AS landing_seconds,
           date_part('epoch', f.start_date - h.start_date) AS first_task_start_delay_seconds
    FROM dag_run_history AS h
    -- The first task's start, as the view dag_run_delay finds it: one probe of
    -- task_run_history_start_idx per run, skipped altogether (a one-time filter on $3) when
    -- no task try was loaded: 1M probes of an empty index still cost a second. (Grouping all
    -- tries by run instead sorted every try: 12 s for 3M tries.)
    LEFT JOIN LATERAL (
        SELECT min(t.start_date) AS start_date
        FROM task_run_history AS t
        WHERE t.airflow_instance = h.airflow_instance
          AND t.dag_id = h.dag_id
          AND t.run_id = h.run_id
          AND t.start_date >= h.start_date
    ) AS f ON $3::boolean
    WHERE coalesce(h.execution_date, h.run_after) IS NOT NULL
),
per_dag AS (
    SELECT r.airflow_instance,
           r.day,
           r.dag_id,
           count(*) AS runs,
           count(*) FILTER (WHERE r.state IN ('success', 'failed')) AS finished_runs,
           count(*) FILTER (WHERE r.state = 'success') AS successful_runs,
           count(*) FILTER (WHERE r.state = 'failed') AS failed_runs,
           count(*) FILTER (WHERE r.state IS NULL OR r.state NOT IN ('success', 'failed'))
               AS unfinished_runs,
           count(r.runtime_seconds) AS timed_runs,
           count(r.runtime_seconds) FILTER (WHERE r.state = 'success') AS success_timed,
           avg(round(r.runtime_seconds * 1000000)::bigint) FILTER (WHERE r.state = 'success') / 1000000 AS success_avg,
           percentile_cont(0.5) WITHIN GROUP (ORDER BY r.runtime_seconds)
               FILTER (WHERE r.state = 'success') AS success_median,
           percentile_cont(0.95) WITHIN GROUP (ORDER BY r.runtime_seconds)
               FILTER (WHERE r.state = 'success') AS success_p95,
           max(r.runtime_seconds) FILTER (WHERE r.state = 'success') AS success_max,
           count(r.runtime_seconds) FILTER (WHERE r.state = 'failed') AS failed_timed,
           avg(round(r.runtime_seconds * 1000000)::bigint) FILTER (WHERE r.state = 'failed') / 1000000 AS failed_avg,
           percentile_cont(0.5) WITHIN GROUP (ORDER BY r.runtime_seconds)
               FILTER (WHERE r.state = 'failed') AS failed_median,
           percentile_cont(0.95) WITHIN GROUP (ORDER BY r.runtime_seconds)
               FILTER (WHERE r.state = 'failed') AS failed_p95,
           max(r.runtime_seconds) FILTER (WHERE r.state = 'failed') AS failed_max,
           percentile_cont(0.5) WITHIN GROUP (ORDER BY r.queue_seconds) AS queue_median,
           percentile_cont(0.95) WITHIN GROUP (ORDER BY r.queue_seconds) AS queue_p95,
           percentile_cont(0.5) WITHIN GROUP (ORDER BY r.schedule_delay_seconds)
               AS schedule_median,
           percentile_cont(0.95) WITHIN GROUP (ORDER BY r.schedule_delay_seconds)
               AS schedule_p95,
           percentile_cont(0.5) WITHIN GROUP (ORDER BY r.landing_seconds) AS landing_median,
           percentile_cont(0.95) WITHIN GROUP (ORDER BY r.landing_seconds) AS landing_p95,
           percentile_cont(0.5) WITHIN GROUP (ORDER BY r.first_task_start_delay_seconds)
               AS first_task_median,
           percentile_cont(0.95) WITHIN GROUP (ORDER BY r.first_task_start_delay_seconds)
               AS first_task_p95
    FROM run AS r
    GROUP BY r.day, r.dag_id, r.airflow_instance
),
success AS (
    INSERT INTO dag_success_daily (airflow_instance, day, dag_id, finished_runs, successful_runs,
                                   failed_runs, unfinished_runs, success_rate,
                                   computed_by_run_id)
    SELECT airflow_instance, day, dag_id, finished_runs, successful_runs, failed_runs,
           unfinished_runs,
           round(successful_runs::numeric / nullif(finished_runs, 0), 6),
           $2::uuid
    FROM per_dag
    RETURNING 1
),
runtime AS (
    INSERT INTO dag_runtime_daily (
        airflow_instance, day, dag_id,
        successful_runs_timed, success_runtime_avg_seconds, success_runtime_median_seconds,
        success_runtime_p95_seconds, success_runtime_max_seconds,
        failed_runs_timed, failed_runtime_avg_seconds, failed_runtime_median_seconds,
        failed_runtime_p95_seconds, failed_runtime_max_seconds,
        computed_by_run_id)
    SELECT airflow_instance, day, dag_id,
           success_timed, success_avg, success_median, success_p95, success_max,
           failed_timed, failed_avg, failed_median, failed_p95, failed_max,
           $2::uuid
    FROM per_dag
    WHERE timed_runs > 0
    RETURNING 1
),
delay AS (
    INSERT INTO dag_delay_daily (airflow_instance, day, dag_id, runs, queue_median_seconds,
                                 queue_p95_seconds, schedule_delay_median_seconds,
                                 schedule_delay_p95_seconds, landing_median_seconds,
                                 landing_p95_seconds, first_task_start_delay_median_seconds,
                                 first_task_start_delay_p95_seconds, computed_by_run_id)
    SELECT airflow_instance, day, dag_id, runs, queue_median, queue_p95, schedule_median,
           schedule_p95, landing_median, landing_p95, first_task_median, first_task_p95,
           $2::uuid
    FROM per_dag
    RETURNING 1
),
history AS (
    INSERT INTO dag_history_daily (airflow_instance, execution_date, dag_id, dag_state,
                                   runtime_seconds, dag_run_count, runtime_run_count,
                                   computed_by_run_id)
    SELECT r.airflow_instance, r.day, r.dag_id, r.state,
           round(sum(round(r.runtime_seconds * 1000000)::bigint) / 1000000.0, 4), count(*), count(r.runtime_seconds),
           $2::uuid
    FROM run AS r
    GROUP BY r.airflow_instance, r.day, r.dag_id, r.state
    RETURNING 1
)
SELECT (SELECT count(*) FROM success) + (SELECT count(*) FROM runtime)
       + (SELECT count(*) FROM delay) + (SELECT count(*) FROM history) AS rows_written,
       coalesce(array_agg(d.airflow_instance ORDER BY d.airflow_instance, d.day), '{}')
           AS instances,
       coalesce(array_agg(d.day ORDER BY d.airflow_instance, d.day), '{}') AS days
FROM (SELECT DISTINCT airflow_instance, day FROM per_dag) AS d
