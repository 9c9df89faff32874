-- Each DAG's delay breakdown over the report's period, from dag_delay_daily: the median of the
-- days' medians and the highest day's p95, for the four delays.
-- Grain: one row per (airflow_instance, dag_id) with delay figures in the period.
-- Params: $1 airflow_instance or NULL for all, $2 first day, $3 last day (inclusive), $4 and $5
-- the DAGs shown (their instances and dag_ids, parallel arrays) or NULL for all.
SELECT airflow_instance, dag_id, sum(runs)::bigint AS runs,
       percentile_cont(0.5) WITHIN GROUP (ORDER BY queue_median_seconds)                  AS queue_median,
       max(queue_p95_seconds)                                                             AS queue_p95,
       percentile_cont(0.5) WITHIN GROUP (ORDER BY schedule_delay_median_seconds)         AS schedule_delay_median,
       max(schedule_delay_p95_seconds)                                                    AS schedule_delay_p95,
       percentile_cont(0.5) WITHIN GROUP (ORDER BY landing_median_seconds)                AS landing_median,
       max(landing_p95_seconds)                                                           AS landing_p95,
       percentile_cont(0.5) WITHIN GROUP (ORDER BY first_task_start_delay_median_seconds) AS first_task_median,
       max(first_task_start_delay_p95_seconds)                                            AS first_task_p95
FROM dag_delay_daily
WHERE ($1::text IS NULL OR airflow_instance = $1::text)
  AND day BETWEEN $2::date AND $3::date
  AND ($4::text[] IS NULL OR (airflow_instance, dag_id::text) IN (SELECT * FROM unnest($4::text[], $5::text[])))
GROUP BY airflow_instance, dag_id
