-- The report's "Promises" section: each objective and DAG with judgements in the period or the
-- period of the same length before it (objective_daily): due, met and missed in each, the
-- target, the 28-day error budget left (objective_compliance), and beside them, not mixed in,
-- Airflow's own missed SLAs and deadlines of the DAG in the period (deadline_history).
-- Grain: one row per (objective, airflow_instance, dag_id). Params: $1 airflow_instance or NULL
-- for all, $2 the period's first day, $3 its last day, $4 and $5 the DAGs shown (parallel
-- arrays) or NULL for all, $6 the reporting time zone.
WITH d AS (
    SELECT o.objective, o.airflow_instance, o.dag_id,
           coalesce(sum(o.due) FILTER (WHERE o.day >= $2::date), 0)::bigint AS due,
           coalesce(sum(o.met) FILTER (WHERE o.day >= $2::date), 0)::bigint AS met,
           coalesce(sum(o.missed) FILTER (WHERE o.day >= $2::date), 0)::bigint AS missed,
           coalesce(sum(o.due) FILTER (WHERE o.day < $2::date), 0)::bigint AS due_before,
           coalesce(sum(o.met) FILTER (WHERE o.day < $2::date), 0)::bigint AS met_before,
           (array_agg(o.target ORDER BY o.day DESC))[1] AS target,
           max(o.kind) AS kind
    FROM objective_daily AS o
    WHERE o.day BETWEEN $2::date - ($3::date - $2::date + 1) AND $3::date
      AND ($1::text IS NULL OR o.airflow_instance = $1::text)
      AND ($4::text[] IS NULL OR (o.airflow_instance, o.dag_id) IN (SELECT * FROM unnest($4::text[], $5::text[])))
    GROUP BY o.objective, o.airflow_instance, o.dag_id
)
SELECT d.*, c.error_budget_left,
       (SELECT count(*) FROM deadline_history AS h
        WHERE h.airflow_instance = d.airflow_instance AND h.dag_id = d.dag_id AND h.missed
          AND (coalesce(h.deadline_time, h.logical_date, h.recorded_at) AT TIME ZONE $6::text)::date
              BETWEEN $2::date AND $3::date) AS airflow_misses
FROM d
LEFT JOIN objective_compliance AS c
       ON c.objective = d.objective AND c.airflow_instance = d.airflow_instance
      AND c.dag_id = d.dag_id
ORDER BY d.missed::double precision / nullif(d.due, 0) DESC NULLS LAST, d.objective, d.airflow_instance, d.dag_id
