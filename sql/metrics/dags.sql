-- The DAGs whose series the Prometheus metrics export, the worst first, with their open alerts
-- and 7-day success ratio (their other figures: dag_figures.sql).
-- Grain: one row per (airflow_instance, dag_id), at most $1 rows. Params: $1 max_dags (bigint),
-- $2 the reporting time zone (its today is the last of the 7 days).
-- Worst first: the DAGs with a problem (an open alert; an import error, or a next run the
-- scheduler should have created more than 10 minutes before the catalogue reading while not
-- paused or stale; a failed run in the 7 days), by most open alerts, then import error or
-- overdue, then the lowest 7-day success ratio; then the other DAGs of the catalogue by
-- instance and dag_id. The cost follows the problems, not the fleet: finding them reads the
-- open alerts, the catalogue and the failed DAG-days of the 7 days (an index of migration 0023);
-- the ratio is then read by key for those DAGs and the exported ones only (at 10,000 DAGs:
-- scripts/bench metrics).
-- success_ratio_7d: successful over finished runs whose day is one of the 7 (dag_success_daily).
WITH window_days AS (
    SELECT array_agg(day::date) AS days
    FROM generate_series((now() AT TIME ZONE $2::text)::date - 6,
                         (now() AT TIME ZONE $2::text)::date, interval '1 day') AS day
),
alerts AS (
    SELECT airflow_instance, subject AS dag_id, count(*) AS open_alerts
    FROM alert_history
    WHERE resolved_at IS NULL
    GROUP BY airflow_instance, subject
),
troubled AS (
    SELECT airflow_instance, dag_id::text AS dag_id
    FROM dag_catalog
    WHERE in_airflow
      AND (has_import_errors
           OR (is_paused IS NOT TRUE AND is_stale IS NOT TRUE
               AND next_dagrun_create_after < read_at - interval '10 minutes'))
),
failing AS (
    SELECT DISTINCT s.airflow_instance, s.dag_id::text AS dag_id
    FROM dag_success_daily AS s
    WHERE s.failed_runs > 0 AND s.day >= (SELECT days[1] FROM window_days)
),
problem AS (
    SELECT p.airflow_instance, p.dag_id,
           coalesce(a.open_alerts, 0) AS open_alerts,
           t.dag_id IS NOT NULL AS troubled
    FROM (SELECT airflow_instance, dag_id FROM alerts
          UNION SELECT airflow_instance, dag_id FROM troubled
          UNION SELECT airflow_instance, dag_id FROM failing) AS p
    LEFT JOIN alerts AS a USING (airflow_instance, dag_id)
    LEFT JOIN troubled AS t USING (airflow_instance, dag_id)
),
candidate AS (
    SELECT 0 AS part, airflow_instance, dag_id, open_alerts, troubled
    FROM problem
    UNION ALL
    -- The other DAGs of the catalogue, as many as could be exported.
    (SELECT 1, c.airflow_instance, c.dag_id::text, 0, false
     FROM dag_catalog AS c
     WHERE c.in_airflow
       AND NOT EXISTS (SELECT 1 FROM problem AS p
                       WHERE p.airflow_instance = c.airflow_instance AND p.dag_id = c.dag_id::text)
     ORDER BY c.airflow_instance, c.dag_id
     LIMIT $1::bigint)
)
SELECT c.airflow_instance, c.dag_id, c.open_alerts, r.success_ratio_7d
FROM candidate AS c
-- The 7-day ratio of each, one lookup of dag_success_daily's key a day (a lateral per day, so
-- that the day is part of every lookup whether the table has statistics yet or not: without
-- them PostgreSQL scanned all of a DAG's days instead, 6 ms a DAG).
LEFT JOIN LATERAL (
    SELECT sum(s.successful_runs)::float8 / nullif(sum(s.finished_runs), 0) AS success_ratio_7d
    FROM unnest((SELECT days FROM window_days)) AS w (day)
    CROSS JOIN LATERAL (
        SELECT d.successful_runs, d.finished_runs
        FROM dag_success_daily AS d
        WHERE d.airflow_instance = c.airflow_instance AND d.day = w.day AND d.dag_id = c.dag_id
        OFFSET 0  -- kept a subquery: flattened, the day left the lookup again
    ) AS s
) AS r ON true
ORDER BY c.part, c.open_alerts DESC, c.troubled DESC, r.success_ratio_7d ASC NULLS LAST,
         c.airflow_instance, c.dag_id
LIMIT $1::bigint
