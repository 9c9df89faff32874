-- The newest runs of every DAG with runs in the last $1 days, for the rules that judge a DAG by
-- its own history: success-rate drop, runtime regression, freshness by rhythm.
-- Grain: one row per DAG run that started within the last $1 days, at most $2 per DAG, the
-- oldest first. Params: $1 days back (integer), $2 runs per DAG (bigint).
SELECT d.airflow_instance, d.dag_id::text AS dag_id, r.run_id::text AS run_id,
       r.state::text AS state, r.start_date, r.end_date
FROM (SELECT DISTINCT airflow_instance, dag_id
      FROM dag_success_daily
      WHERE day >= (now() - make_interval(days => $1::integer + 1))::date) d
CROSS JOIN LATERAL (
    SELECT h.run_id, h.state, h.start_date, h.end_date
    FROM dag_run_history h
    WHERE h.airflow_instance = d.airflow_instance AND h.dag_id = d.dag_id
      AND h.start_date >= now() - make_interval(days => $1::integer)
    ORDER BY h.start_date DESC
    LIMIT $2::bigint
) r
ORDER BY d.airflow_instance, d.dag_id, r.start_date, r.run_id
