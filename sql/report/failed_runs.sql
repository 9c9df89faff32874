-- The failed runs of the report's period, the newest ten of each DAG, newest first.
-- Grain: one row per failed DAG run. Params: $1 airflow_instance or NULL for all, $2 first day,
-- $3 last day (inclusive), $4 reporting time zone, $5 and $6 the DAGs shown (their instances and
-- dag_ids, parallel arrays) or NULL for all.
-- Runs are found by the instant range of their day (index dag_run_history_run_instant_idx).
SELECT airflow_instance, dag_id, run_id, day, start_date, end_date
FROM (
    SELECT h.airflow_instance, h.dag_id::text AS dag_id, h.run_id::text AS run_id,
           (coalesce(h.execution_date, h.run_after) AT TIME ZONE $4::text)::date AS day,
           h.start_date, h.end_date, coalesce(h.execution_date, h.run_after) AS run_instant,
           row_number() OVER (PARTITION BY h.airflow_instance, h.dag_id
                              ORDER BY coalesce(h.execution_date, h.run_after) DESC, h.run_id) AS n
    FROM dag_run_history AS h
    WHERE ($1::text IS NULL OR h.airflow_instance = $1::text)
      AND h.state = 'failed'
      AND ($5::text[] IS NULL OR (h.airflow_instance, h.dag_id::text) IN (SELECT * FROM unnest($5::text[], $6::text[])))
      AND coalesce(h.execution_date, h.run_after) >= ($2::date::timestamp AT TIME ZONE $4::text)
      AND coalesce(h.execution_date, h.run_after) < (($3::date + 1)::timestamp AT TIME ZONE $4::text)
) AS f
WHERE n <= 10
ORDER BY airflow_instance, dag_id, run_instant DESC, run_id
