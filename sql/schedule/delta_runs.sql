-- The scheduled (and backfill) runs that anchor the slots of interval (timedelta) schedules:
-- Airflow chains each such run from the previous one's data interval end, so the slots are
-- that chain. The runs due in the window, and each DAG's last one before it.
-- Grain: one row per run. Params: $1 airflow_instance, $2 text[] the DAGs, $3 the window's
-- start, $4 its end.
SELECT r.dag_id::text AS dag_id, r.data_interval_end
FROM dag_run_history AS r
WHERE r.airflow_instance = $1::text
  AND r.dag_id = ANY ($2::text[])
  AND r.data_interval_end >= $3::timestamptz
  AND r.data_interval_end <= $4::timestamptz
  AND r.run_type IN ('scheduled', 'backfill')
UNION
SELECT d.dag_id, p.data_interval_end
FROM unnest($2::text[]) AS d(dag_id)
CROSS JOIN LATERAL (
    SELECT r.data_interval_end
    FROM dag_run_history AS r
    WHERE r.airflow_instance = $1::text
      AND r.dag_id = d.dag_id
      AND r.data_interval_end < $3::timestamptz
      AND r.run_type IN ('scheduled', 'backfill')
    ORDER BY r.data_interval_end DESC
    LIMIT 1
) AS p
ORDER BY 1, 2
