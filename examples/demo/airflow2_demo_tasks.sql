-- Demo data for an Airflow 2.10 metadata database: the task instances (task_instance) and their
-- earlier tries (task_instance_history) of the DAG runs airflow2_demo_runs.sql created. Run it
-- after that file.
-- Grain: one row per task instance in task_instance (its current try), one row per earlier try
-- in task_instance_history. Params: none; outcomes come from a hash of (run, task), so the same
-- runs always give the same tasks.
-- Each DAG has a few tasks that run one after the other inside the run's start and end; a
-- mapped task (ml_feature_build.compute_features, map indexes 0-3) runs its instances side by
-- side (the queued run's is not expanded yet: one instance, map index -1). In a failed run the middle task fails after one retry and the tasks after it are
-- upstream_failed. Some tries fail and succeed on retry (pull_features is flaky). The cleared
-- daily_orders_etl run keeps the tries of its first attempt in task_instance_history. Runs in
-- flight have tasks still running or not yet scheduled (no state, try 0).
-- Requires the tables of tests/fixtures/airflow/task_instance_airflow2.sql.
WITH tasks (dag_id, task_id, position, start_share, end_share, mapped, operator, pool,
            flaky_percent) AS (
    VALUES ('hourly_ingest_events', 'fetch_events', 1, 0.00, 0.45, false, 'HttpOperator', 'default_pool', 8),
           ('hourly_ingest_events', 'parse_events', 2, 0.45, 0.70, false, 'PythonOperator', 'default_pool', 0),
           ('hourly_ingest_events', 'load_events', 3, 0.70, 1.00, false, 'SQLExecuteQueryOperator', 'warehouse', 2),
           ('daily_orders_etl', 'extract_orders', 1, 0.00, 0.20, false, 'SQLExecuteQueryOperator', 'default_pool', 3),
           ('daily_orders_etl', 'transform_orders', 2, 0.20, 0.70, false, 'PythonOperator', 'default_pool', 0),
           ('daily_orders_etl', 'load_orders', 3, 0.70, 0.90, false, 'SQLExecuteQueryOperator', 'warehouse', 5),
           ('daily_orders_etl', 'refresh_marts', 4, 0.90, 1.00, false, 'SQLExecuteQueryOperator', 'warehouse', 0),
           ('ml_feature_build', 'pull_features', 1, 0.00, 0.25, false, 'PythonOperator', 'default_pool', 30),
           ('ml_feature_build', 'compute_features', 2, 0.25, 0.80, true, '_PythonDecoratedOperator', 'default_pool', 4),
           ('ml_feature_build', 'train_model', 3, 0.80, 1.00, false, 'KubernetesPodOperator', 'gpu', 0),
           ('weekly_finance_report', 'build_report', 1, 0.00, 0.80, false, 'PythonOperator', 'default_pool', 0),
           ('weekly_finance_report', 'email_report', 2, 0.80, 1.00, false, 'EmailOperator', 'default_pool', 0)
),
instances AS (
    SELECT r.dag_id, r.run_id, r.state AS run_state, r.start_date AS run_start,
           coalesce(r.end_date, now() + interval '15 minutes') AS run_end, r.clear_number,
           t.task_id, t.position, t.operator, t.pool, m.map_index,
           (abs(hashtext(r.run_id || t.task_id || m.map_index::text)) % 1000) / 10.0 < t.flaky_percent
               AS flaky_draw,
           -- The task that fails in a failed run: the middle one.
           max(t.position) OVER (PARTITION BY r.id) / 2 + 1 AS failing_position,
           r.start_date + interval '8 seconds' + m.map_index * interval '3 seconds'
               + t.start_share * (coalesce(r.end_date, now() + interval '15 minutes') - r.start_date - interval '10 seconds')
               AS task_start,
           r.start_date + interval '8 seconds'
               + t.end_share * (coalesce(r.end_date, now() + interval '15 minutes') - r.start_date - interval '10 seconds')
               AS task_end
    FROM dag_run AS r
    JOIN tasks AS t USING (dag_id)
    -- A mapped task is expanded (map indexes 0-3) once its run started; before, it is one
    -- unexpanded instance (map index -1), as in Airflow.
    CROSS JOIN LATERAL generate_series(
        CASE WHEN t.mapped AND r.start_date IS NOT NULL THEN 0 ELSE -1 END,
        CASE WHEN t.mapped AND r.start_date IS NOT NULL THEN 3 ELSE -1 END) AS m (map_index)
),
outcome AS (
    SELECT i.*,
           CASE
               WHEN i.run_start IS NULL OR i.task_start > now() THEN 'not_started'
               WHEN i.run_state = 'failed' AND i.position = i.failing_position THEN 'failed'
               WHEN i.run_state = 'failed' AND i.position > i.failing_position THEN 'upstream_failed'
               WHEN i.task_end > now() THEN 'running'
               ELSE 'success'
           END AS kind,
           -- Tasks that ran before the run was cleared start again one try higher.
           CASE WHEN i.position <= i.failing_position THEN i.clear_number ELSE 0 END AS clear_bump
    FROM instances AS i
),
-- A failing task, and a flaky one that finished, had an earlier try that failed.
retried AS (
    SELECT o.*,
           o.kind = 'failed' OR (o.kind = 'success' AND o.flaky_draw) AS has_failed_try
    FROM outcome AS o
),
current_try AS (
    INSERT INTO task_instance (task_id, dag_id, run_id, map_index, start_date, end_date, duration,
                               state, try_number, max_tries, hostname, unixname, pool, pool_slots,
                               queue, priority_weight, operator, queued_dttm, updated_at)
    SELECT task_id, dag_id, run_id, map_index,
           CASE WHEN kind IN ('success', 'failed', 'running')
                THEN CASE WHEN has_failed_try THEN task_start + (task_end - task_start) * 0.45
                          ELSE task_start END END,
           CASE WHEN kind IN ('success', 'failed') THEN task_end END,
           CASE WHEN kind IN ('success', 'failed')
                THEN extract(epoch FROM task_end - CASE WHEN has_failed_try
                     THEN task_start + (task_end - task_start) * 0.45 ELSE task_start END) END,
           CASE kind WHEN 'not_started' THEN NULL ELSE kind END,
           CASE WHEN kind IN ('not_started', 'upstream_failed') THEN 0
                WHEN has_failed_try THEN 2 + clear_bump ELSE 1 + clear_bump END,
           CASE WHEN has_failed_try OR kind = 'failed' THEN 1 ELSE 0 END + clear_bump,
           CASE WHEN kind IN ('success', 'failed', 'running') THEN 'worker-' || (abs(hashtext(run_id)) % 3 + 1) END,
           'airflow', pool, 1, 'default', 1, operator,
           CASE WHEN kind IN ('success', 'failed', 'running')
                THEN CASE WHEN has_failed_try THEN task_start + (task_end - task_start) * 0.45
                          ELSE task_start END
                     - (abs(hashtext(task_id || run_id)) % 20 + 1) * interval '1 second' END,
           least(task_end, now())
    FROM retried
),
earlier_try AS (
    INSERT INTO task_instance_history (task_id, dag_id, run_id, map_index, try_number, start_date,
                                       end_date, duration, state, max_tries, hostname, unixname,
                                       pool, pool_slots, queue, priority_weight, operator,
                                       queued_dttm, updated_at)
    SELECT task_id, dag_id, run_id, map_index, 1 + clear_bump, task_start,
           task_start + (task_end - task_start) * 0.4,
           extract(epoch FROM (task_end - task_start) * 0.4),
           'failed', 1 + clear_bump, 'worker-' || (abs(hashtext(run_id || task_id)) % 3 + 1),
           'airflow', pool, 1, 'default', 1, operator,
           task_start - (abs(hashtext(run_id || task_id)) % 15 + 1) * interval '1 second',
           task_start + (task_end - task_start) * 0.4
    FROM retried
    WHERE has_failed_try
)
-- The first attempt of the cleared run (before it was cleared, three hours earlier): try 1 of
-- each task that ran, kept in task_instance_history.
INSERT INTO task_instance_history (task_id, dag_id, run_id, map_index, try_number, start_date,
                                   end_date, duration, state, max_tries, hostname, unixname,
                                   pool, pool_slots, queue, priority_weight, operator,
                                   queued_dttm, updated_at)
SELECT task_id, dag_id, run_id, map_index, 1, task_start - interval '3 hours',
       task_end - interval '3 hours', extract(epoch FROM task_end - task_start),
       CASE WHEN position = failing_position THEN 'failed' ELSE 'success' END, 0,
       'worker-1', 'airflow', pool, 1, 'default', 1, operator,
       task_start - interval '3 hours 10 seconds', task_end - interval '3 hours'
FROM retried
WHERE clear_bump > 0;
