-- The slowest and the flakiest tasks of each DAG over the last $2 days (ending today in the
-- reporting time zone the models were computed in), from slowest_tasks and flakiest_tasks.
-- Grain: one row per (kind, airflow_instance, dag_id, task_id); kind 'slowest' (p95 of
-- successful tries, and its change against the days before) or 'flakiest' (share of instances
-- that needed a retry). Params: $1 airflow_instance or NULL for all, $2 days, $3 and $4 the DAGs
-- shown (their instances and dag_ids, parallel arrays) or NULL for all.
SELECT 'slowest' AS kind, airflow_instance, dag_id, task_id,
       successful_tries AS count, p95_seconds AS value, previous_p95_seconds AS previous_value,
       NULL::double precision AS retry_seconds
FROM slowest_tasks($2::integer)
WHERE ($1::text IS NULL OR airflow_instance = $1::text)
  AND ($3::text[] IS NULL OR (airflow_instance, dag_id::text) IN (SELECT * FROM unnest($3::text[], $4::text[])))
UNION ALL
SELECT 'flakiest', airflow_instance, dag_id, task_id,
       task_instances, flaky_share::double precision, NULL, retry_seconds
FROM flakiest_tasks($2::integer)
WHERE ($1::text IS NULL OR airflow_instance = $1::text)
  AND ($3::text[] IS NULL OR (airflow_instance, dag_id::text) IN (SELECT * FROM unnest($3::text[], $4::text[])))
