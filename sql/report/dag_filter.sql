-- The DAGs a report filtered by owner or tag shows (report --owner, --tag): those whose
-- catalogue row (dag_catalog, as last read) names the owner among its owners and the tag among
-- its tags; both when both are given.
-- Grain: one row per (airflow_instance, dag_id). Params: $1 airflow_instance or NULL for all,
-- $2 owner or NULL, $3 tag or NULL.
SELECT airflow_instance, dag_id::text AS dag_id
FROM dag_catalog
WHERE ($1::text IS NULL OR airflow_instance = $1::text)
  AND ($2::text IS NULL OR $2::text = ANY (owners))
  AND ($3::text IS NULL OR $3::text = ANY (tags))
ORDER BY airflow_instance, dag_id
