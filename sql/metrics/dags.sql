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
ratio AS (
    -- The 7-day ratio of one DAG, by the key of dag_success_daily (one probe a day).
    SELECT p.airflow_instance, p.dag_id, p.open_alerts, p.troubled,
           (SELECT sum(s.successful_runs)::float8 / nullif(sum(s.finished_runs), 0)
            FROM dag_success_daily AS s
            WHERE s.airflow_instance = p.airflow_instance
              AND s.day = ANY ((SELECT days FROM window_days)::date[])
              AND s.dag_id = p.dag_id) AS success_ratio_7d
    FROM problem AS p
),
worst AS (
    SELECT airflow_instance, dag_id, open_alerts, troubled, success_ratio_7d
    FROM ratio
    ORDER BY open_alerts DESC, troubled DESC, success_ratio_7d ASC NULLS LAST,
             airflow_instance, dag_id
    LIMIT $1::bigint
),
healthy AS (
    SELECT c.airflow_instance, c.dag_id::text AS dag_id
    FROM dag_catalog AS c
    WHERE c.in_airflow
      AND NOT EXISTS (SELECT 1 FROM problem AS p
                      WHERE p.airflow_instance = c.airflow_instance AND p.dag_id = c.dag_id::text)
    ORDER BY c.airflow_instance, c.dag_id
    LIMIT greatest($1::bigint - (SELECT count(*) FROM worst), 0)
),
exported AS (
    SELECT 0 AS part, airflow_instance, dag_id, open_alerts, troubled, success_ratio_7d
    FROM worst
    UNION ALL
    SELECT 1, h.airflow_instance, h.dag_id, 0, false,
           (SELECT sum(s.successful_runs)::float8 / nullif(sum(s.finished_runs), 0)
            FROM dag_success_daily AS s
            WHERE s.airflow_instance = h.airflow_instance
              AND s.day = ANY ((SELECT days FROM window_days)::date[])
              AND s.dag_id = h.dag_id)
    FROM healthy AS h
)
SELECT airflow_instance, dag_id, open_alerts, success_ratio_7d
FROM exported
ORDER BY part, open_alerts DESC, troubled DESC, success_ratio_7d ASC NULLS LAST,
         airflow_instance, dag_id
