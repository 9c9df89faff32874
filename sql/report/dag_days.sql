-- Each DAG's daily figures over the report's period, for its charts and its rank.
-- Grain: one row per (airflow_instance, dag_id, day) with at least one run.
-- Params: $1 airflow_instance or NULL for all, $2 first day, $3 last day (inclusive), $4 and $5
-- the DAGs shown (their instances and dag_ids, parallel arrays) or NULL for all.
SELECT s.airflow_instance,
       s.dag_id::text                      AS dag_id,
       s.day,
       s.finished_runs,
       s.successful_runs,
       s.failed_runs,
       s.unfinished_runs,
       s.success_rate::double precision    AS success_rate,
       r.success_runtime_median_seconds    AS runtime_median_seconds,
       r.success_runtime_p95_seconds       AS runtime_p95_seconds
FROM dag_success_daily AS s
LEFT JOIN dag_runtime_daily AS r USING (airflow_instance, day, dag_id)
WHERE ($1::text IS NULL OR s.airflow_instance = $1::text)
  AND s.day BETWEEN $2::date AND $3::date
  AND ($4::text[] IS NULL OR (s.airflow_instance, s.dag_id::text) IN (SELECT * FROM unnest($4::text[], $5::text[])))
ORDER BY s.airflow_instance, s.dag_id, s.day
