-- What the import_error alert judges: every import-error episode still open at the last
-- catalogue reading (import_error_history, migration 0013), with the owners of its DAGs.
-- Grain: one row per (airflow_instance, bundle_name, filename) with an open episode.
-- Params: none.
SELECT e.airflow_instance,
       e.bundle_name,
       e.filename,
       e.first_seen_at,
       e.last_seen_at,
       e.first_line,
       e.last_line,
       e.dag_ids,
       coalesce((SELECT array_agg(DISTINCT o ORDER BY o)
                 FROM dag_catalog AS c
                 CROSS JOIN LATERAL unnest(c.owners) AS o
                 WHERE c.airflow_instance = e.airflow_instance AND c.dag_id = ANY (e.dag_ids)),
                '{}') AS owners
FROM import_error_history AS e
WHERE e.resolved_at IS NULL
ORDER BY e.airflow_instance, e.bundle_name, e.filename
