-- The open alerts, for the report's headline and its alert list.
-- Grain: one row per open alert. Params: $1 airflow_instance or NULL for all (validation-test
-- alerts are always shown), $2 and $3 the DAGs shown (their instances and dag_ids, parallel
-- arrays) or NULL for all: with them, only alerts whose subject is one of those DAGs.
SELECT rule, airflow_instance, subject, day, opened_at, message
FROM alert_history
WHERE resolved_at IS NULL
  AND ($1::text IS NULL OR airflow_instance = $1::text OR rule = 'validation_failure')
  AND ($2::text[] IS NULL OR (airflow_instance, subject) IN (SELECT * FROM unnest($2::text[], $3::text[])))
ORDER BY opened_at DESC, alert_id
