-- Benchmark source: the task instances of the dag_run rows with ids first_id .. first_id + runs
-- - 1 (benches/airflow2_dag_runs.sql): 20 tasks per run running one after another, about 3% of
-- instances retried once (try 1 failed in task_instance_history, try 2 in task_instance); in a
-- failed run the last task failed. For scripts/bench tasks.
-- Grain: one row per task instance (task_instance) and per earlier try (task_instance_history).
-- Params: psql variables first_id, runs. Requires tests/fixtures/airflow/task_instance_airflow2.sql.
CREATE TEMPORARY TABLE bench_ti AS
SELECT 'task_' || lpad(t::text, 2, '0') AS task_id, dr.dag_id, dr.run_id, t,
       dr.state AS run_state, dr.start_date AS run_start,
       (dr.id::bigint * 31 + t) % 100 < 3 AS retried,
       dr.start_date + (t - 1) * interval '20 seconds' AS task_start,
       dr.start_date + (t - 1) * interval '20 seconds' + (5 + (dr.id::bigint * 7 + t) % 14) * interval '1 second' AS task_end
FROM dag_run AS dr
CROSS JOIN generate_series(1, 20) AS t
WHERE dr.id BETWEEN :first_id AND :first_id + :runs - 1;

INSERT INTO task_instance (task_id, dag_id, run_id, map_index, start_date, end_date, duration,
                           state, try_number, max_tries, hostname, unixname, pool, pool_slots,
                           queue, priority_weight, operator, queued_dttm, updated_at)
SELECT task_id, dag_id, run_id, -1,
       CASE WHEN run_start IS NOT NULL THEN task_start END,
       CASE WHEN run_start IS NOT NULL AND run_state IN ('success', 'failed') THEN task_end END,
       CASE WHEN run_start IS NOT NULL AND run_state IN ('success', 'failed') THEN extract(epoch FROM task_end - task_start) END,
       CASE WHEN run_start IS NULL THEN NULL
            WHEN run_state = 'running' THEN 'running'
            WHEN run_state = 'failed' AND t = 20 THEN 'failed'
            ELSE 'success' END,
       CASE WHEN run_start IS NULL THEN 0 WHEN retried THEN 2 ELSE 1 END,
       1, 'worker-' || (t % 4), 'airflow', 'default_pool', 1, 'default', 1, 'PythonOperator',
       task_start - interval '3 seconds', coalesce(task_end, now())
FROM bench_ti;

INSERT INTO task_instance_history (task_id, dag_id, run_id, map_index, try_number, start_date,
                                   end_date, duration, state, max_tries, hostname, unixname,
                                   pool, pool_slots, queue, priority_weight, operator,
                                   queued_dttm, updated_at)
SELECT task_id, dag_id, run_id, -1, 1, task_start - interval '2 minutes',
       task_start - interval '1 minute 50 seconds', 10, 'failed', 1, 'worker-0', 'airflow',
       'default_pool', 1, 'default', 1, 'PythonOperator',
       task_start - interval '2 minutes 3 seconds', task_start - interval '1 minute 50 seconds'
FROM bench_ti
WHERE retried AND run_start IS NOT NULL;
