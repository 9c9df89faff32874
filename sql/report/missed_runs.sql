-- The DAGs with runs their schedule called for in the report's period that never came
-- (dag_schedule_daily, dag_schedule_missed), for the report's "Not running as scheduled"
-- section: how many of how many, the first and last missing due times, and up to when the
-- slots were judged.
-- Grain: one row per (airflow_instance, dag_id) with missing runs. Params: $1 airflow_instance
-- or NULL for all, $2 the period's first day, $3 its last day, $4 and $5 the DAGs shown (their
-- instances and dag_ids, parallel arrays) or NULL for all.
SELECT d.airflow_instance,
       d.dag_id::text AS dag_id,
       sum(d.missing_runs)::bigint  AS missing_runs,
       sum(d.expected_runs)::bigint AS expected_runs,
       (SELECT min(m.due_at) FROM dag_schedule_missed AS m
        WHERE m.airflow_instance = d.airflow_instance AND m.dag_id = d.dag_id
          AND m.day BETWEEN $2::date AND $3::date) AS first_missing_due_at,
       (SELECT max(m.due_at) FROM dag_schedule_missed AS m
        WHERE m.airflow_instance = d.airflow_instance AND m.dag_id = d.dag_id
          AND m.day BETWEEN $2::date AND $3::date) AS last_missing_due_at,
       (SELECT s.judged_until FROM dag_schedule_state AS s
        WHERE s.airflow_instance = d.airflow_instance) AS judged_until,
       coalesce((SELECT c.owners FROM dag_catalog AS c
                 WHERE c.airflow_instance = d.airflow_instance AND c.dag_id = d.dag_id),
                '{}')::text[] AS owners
FROM dag_schedule_daily AS d
WHERE d.day BETWEEN $2::date AND $3::date
  AND ($1::text IS NULL OR d.airflow_instance = $1::text)
  AND ($4::text[] IS NULL OR (d.airflow_instance, d.dag_id::text) IN (SELECT * FROM unnest($4::text[], $5::text[])))
GROUP BY d.airflow_instance, d.dag_id
HAVING sum(d.missing_runs) > 0
ORDER BY sum(d.missing_runs) DESC, d.airflow_instance, d.dag_id
