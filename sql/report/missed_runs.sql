-- The DAGs with runs their schedule called for in the report's period that never came
-- (dag_schedule_daily, dag_schedule_missed), for the report's "Not running as scheduled"
-- section: how many of how many, the first and last missing due times, and up to when the
-- slots were judged.
-- Grain: one row per (airflow_instance, dag_id) with missing runs. Params: $1 airflow_instance
-- or NULL for all, $2 the period's first day, $3 its last day, $4 and $5 the DAGs shown (their
-- instances and dag_ids, parallel arrays) or NULL for all.
WITH per_dag AS (
    SELECT d.airflow_instance, d.dag_id, sum(d.missing_runs)::bigint AS missing_runs,
           sum(d.expected_runs)::bigint AS expected_runs
    FROM dag_schedule_daily AS d
    WHERE d.day BETWEEN $2::date AND $3::date
      AND ($1::text IS NULL OR d.airflow_instance = $1::text)
      AND ($4::text[] IS NULL OR (d.airflow_instance, d.dag_id::text) IN (SELECT * FROM unnest($4::text[], $5::text[])))
    GROUP BY d.airflow_instance, d.dag_id
    HAVING sum(d.missing_runs) > 0
)
SELECT p.airflow_instance,
       p.dag_id::text AS dag_id,
       p.missing_runs,
       p.expected_runs,
       m.first_missing_due_at,
       m.last_missing_due_at,
       st.judged_until,
       coalesce(c.owners, '{}')::text[] AS owners
FROM per_dag AS p
LEFT JOIN dag_schedule_state AS st ON st.airflow_instance = p.airflow_instance
LEFT JOIN dag_catalog AS c ON c.airflow_instance = p.airflow_instance AND c.dag_id = p.dag_id
CROSS JOIN LATERAL (
    SELECT min(x.due_at) AS first_missing_due_at, max(x.due_at) AS last_missing_due_at
    FROM dag_schedule_missed AS x
    WHERE x.airflow_instance = p.airflow_instance AND x.dag_id = p.dag_id
      AND x.day BETWEEN $2::date AND $3::date
) AS m
ORDER BY p.missing_runs DESC, p.airflow_instance, p.dag_id
