-- Deletes an objective's judgements of the matched DAGs due in a range, before they are judged
-- again (judgements of DAGs it no longer matches, or that left Airflow, are kept).
-- Grain: objective_run rows. Params: $1 objective label, $2 instances and $3 dag ids
-- (pairwise), $4 and $5 the due range.
DELETE FROM objective_run AS o
USING unnest($2::text[], $3::text[]) AS d (airflow_instance, dag_id)
WHERE o.objective = $1::text AND o.airflow_instance = d.airflow_instance
  AND o.dag_id = d.dag_id AND o.due_at >= $4::timestamptz AND o.due_at < $5::timestamptz
