-- The figures of the DAGs the Prometheus metrics export, besides their rank (dags.sql): each read
-- by index for these DAGs only.
-- Grain: one row per (airflow_instance, dag_id) given. Params: $1 and $2 the DAGs (their
-- instances and dag_ids, parallel text arrays).
-- runtime_p95_7d_seconds: percentile_cont(0.95) of end - start over successful runs that started
-- in the last 7 x 24 hours, to the millisecond; last_success_end: end_date of the successful run
-- that started last; running_runs: runs in state running now; status: dag_schedule_status at
-- the catalogue's last reading (NULL for a DAG it does not have).
WITH dags AS (
    SELECT airflow_instance, dag_id FROM unnest($1::text[], $2::text[]) AS d (airflow_instance, dag_id)
),
running AS (
    SELECT airflow_instance, dag_id::text AS dag_id, count(*) AS running_runs
    FROM dag_run_history
    WHERE (state IS NULL OR state NOT IN ('success', 'failed')) AND state = 'running'
    GROUP BY airflow_instance, dag_id
)
SELECT k.airflow_instance,
       k.dag_id,
       round((SELECT percentile_cont(0.95) WITHIN GROUP (ORDER BY extract(epoch FROM h.end_date - h.start_date))
              FROM dag_run_history AS h
              WHERE h.airflow_instance = k.airflow_instance AND h.dag_id = k.dag_id
                AND h.start_date >= now() - interval '7 days'
                AND h.state = 'success' AND h.end_date IS NOT NULL)::numeric, 3)::float8
           AS runtime_p95_7d_seconds,
       (SELECT h.end_date
        FROM dag_run_history AS h
        WHERE h.airflow_instance = k.airflow_instance AND h.dag_id = k.dag_id
          AND h.state = 'success' AND h.start_date IS NOT NULL
        ORDER BY h.start_date DESC
        LIMIT 1) AS last_success_end,
       coalesce(x.running_runs, 0) AS running_runs,
       s.status
FROM dags AS k
LEFT JOIN running AS x USING (airflow_instance, dag_id)
LEFT JOIN dag_schedule_status AS s
       ON s.airflow_instance = k.airflow_instance AND s.dag_id = k.dag_id
