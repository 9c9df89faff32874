-- For a full refresh: dag_success_daily, dag_runtime_daily and dag_delay_daily from one
-- aggregation of refresh_run per (instance, day, DAG), and dag_history_daily from one per
-- (instance, day, DAG, state), after every row of the four was deleted. Each figure means what
-- the model's own file (dag_success_daily.sql, dag_runtime_daily.sql, dag_delay_daily.sql,
-- dag_history_daily.sql, used for the days an incremental transform recomputes) says; a test
-- holds the two paths to the same rows.
-- Grain: one row per (airflow_instance, day, dag_id) in the first three models (in
-- dag_runtime_daily only where some finished run is timed), per (.., state) in dag_history_daily.
-- Params: $1 the computing invocation's run id. Returns: one row, the model rows written.
-- (tests/it/faults.rs finds this statement under way by its first line.)
WITH per_dag AS (
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
           avg(r.runtime_seconds) FILTER (WHERE r.state = 'success') AS success_avg,
           percentile_cont(0.5) WITHIN GROUP (ORDER BY r.runtime_seconds)
               FILTER (WHERE r.state = 'success') AS success_median,
           percentile_cont(0.95) WITHIN GROUP (ORDER BY r.runtime_seconds)
               FILTER (WHERE r.state = 'success') AS success_p95,
           max(r.runtime_seconds) FILTER (WHERE r.state = 'success') AS success_max,
           count(r.runtime_seconds) FILTER (WHERE r.state = 'failed') AS failed_timed,
           avg(r.runtime_seconds) FILTER (WHERE r.state = 'failed') AS failed_avg,
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
    FROM refresh_run AS r
    GROUP BY r.airflow_instance, r.day, r.dag_id
),
success AS (
    INSERT INTO dag_success_daily (airflow_instance, day, dag_id, finished_runs, successful_runs,
                                   failed_runs, unfinished_runs, success_rate,
                                   computed_by_run_id)
    SELECT airflow_instance, day, dag_id, finished_runs, successful_runs, failed_runs,
           unfinished_runs,
           round(successful_runs::numeric / nullif(finished_runs, 0), 6),
           $1::uuid
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
           $1::uuid
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
           $1::uuid
    FROM per_dag
    RETURNING 1
),
history AS (
    INSERT INTO dag_history_daily (airflow_instance, execution_date, dag_id, dag_state,
                                   runtime_seconds, dag_run_count, runtime_run_count,
                                   computed_by_run_id)
    SELECT r.airflow_instance, r.day, r.dag_id, r.state,
           sum(r.runtime_seconds)::numeric(14, 4), count(*), count(r.runtime_seconds),
           $1::uuid
    FROM refresh_run AS r
    GROUP BY r.airflow_instance, r.day, r.dag_id, r.state
    RETURNING 1
)
SELECT (SELECT count(*) FROM success) + (SELECT count(*) FROM runtime)
       + (SELECT count(*) FROM delay) + (SELECT count(*) FROM history) AS rows_written
