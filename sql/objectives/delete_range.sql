-- Deletes the objectives' judgements of their matched DAGs due in a range, before they are
-- judged again (judgements of DAGs an objective no longer matches, or that left Airflow, are
-- kept).
-- Grain: objective_run rows. Params: $1 objective labels, $2 instances, $3 dag ids (one entry
-- per objective and DAG), $4 and $5 the due range.
DELETE FROM objective_run AS o
USING unnest($1::text[], $2::text[], $3::text[]) AS d (objective, airflow_instance, dag_id)
WHERE o.objective = d.objective AND o.airflow_instance = d.airflow_instance
  AND o.dag_id = d.dag_id AND o.due_at >= $4::timestamptz AND o.due_at < $5::timestamptz
