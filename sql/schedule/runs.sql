-- The runs that fill slots (scheduled and backfill runs) of some DAGs, due in a window: one
-- range of dag_run_history_interval_end_idx per DAG (a plan that does not change with the
-- number of DAGs or days). pipewatch matches them to the slots by (dag_id, data_interval_end).
-- Grain: one row per run. Params: $1 airflow_instance, $2 text[] the DAGs, $3 the window's
-- first due time, $4 its last.
SELECT d.dag_id, r.data_interval_end
FROM unnest($2::text[]) AS d(dag_id)
CROSS JOIN LATERAL (
    SELECT h.data_interval_end
    FROM dag_run_history AS h
    WHERE h.airflow_instance = $1::text
      AND h.dag_id = d.dag_id
      AND h.run_type IN ('scheduled', 'backfill')
      AND h.data_interval_end >= $3::timestamptz
      AND h.data_interval_end <= $4::timestamptz
) AS r
