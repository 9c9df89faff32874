-- The DAGs whose series the Prometheus metrics export, the worst first, with their figures.
-- Grain: one row per (airflow_instance, dag_id), at most $1 rows. Params: $1 max_dags (bigint),
-- $2 the reporting time zone (its today is the last of the 7 days).
-- Candidates: every DAG the catalogue has in Airflow, and every DAG with runs in the 7 days.
-- Worst first: most open alerts; then an import error, or a next run the scheduler should have
-- created more than 10 minutes before the catalogue reading (not paused, not stale); then the
-- lowest 7-day success ratio (none last); then instance and dag_id. Ranking reads only the daily
-- model, the catalogue and the open alerts, so it stays cheap for 10,000s of DAGs; the exported
-- DAGs' own figures are then read by index.
-- success_ratio_7d: successful over finished runs whose day is in the 7 days (dag_success_daily);
-- runtime_p95_7d_seconds: percentile_cont(0.95) of end - start over successful runs that started
-- in the last 7 x 24 hours; last_success_end: end_date of the successful run that started last;
-- running_runs: runs in state running now; status: dag_schedule_status at the last reading.
WITH recent AS (
    SELECT airflow_instance, dag_id::text AS dag_id,
           sum(successful_runs) AS successful, sum(finished_runs) AS finished
    FROM dag_success_daily
    WHERE day > (now() AT TIME ZONE $2::text)::date - 7
    GROUP BY airflow_instance, dag_id
),
alerts AS (
    SELECT airflow_instance, subject AS dag_id, count(*) AS open_alerts
    FROM alert_history
    WHERE resolved_at IS NULL
    GROUP BY airflow_instance, subject
),
candidate AS (
    SELECT airflow_instance, dag_id::text AS dag_id FROM dag_catalog WHERE in_airflow
    UNION
    SELECT airflow_instance, dag_id FROM recent
),
ranked AS (
    SELECT d.airflow_instance, d.dag_id,
           coalesce(a.open_alerts, 0) AS open_alerts,
           r.successful::float8 / nullif(r.finished, 0) AS success_ratio_7d,
           coalesce(c.has_import_errors
                    OR (c.is_paused IS NOT TRUE AND c.is_stale IS NOT TRUE
                        AND c.next_dagrun_create_after < c.read_at - interval '10 minutes'),
                    false) AS troubled
    FROM candidate AS d
    LEFT JOIN recent AS r USING (airflow_instance, dag_id)
    LEFT JOIN alerts AS a USING (airflow_instance, dag_id)
    LEFT JOIN dag_catalog AS c
           ON c.airflow_instance = d.airflow_instance AND c.dag_id = d.dag_id
    ORDER BY open_alerts DESC, troubled DESC, success_ratio_7d ASC NULLS LAST,
             d.airflow_instance, d.dag_id
    LIMIT $1::bigint
),
running AS (
    SELECT airflow_instance, dag_id::text AS dag_id, count(*) AS running_runs
    FROM dag_run_history
    WHERE (state IS NULL OR state NOT IN ('success', 'failed')) AND state = 'running'
    GROUP BY airflow_instance, dag_id
)
SELECT k.airflow_instance,
       k.dag_id,
       k.open_alerts,
       k.success_ratio_7d,
       round((SELECT percentile_cont(0.95) WITHIN GROUP (ORDER BY extract(epoch FROM h.end_date - h.start_date))
              FROM dag_run_history AS h
              WHERE h.airflow_instance = k.airflow_instance AND h.dag_id = k.dag_id
                AND h.start_date >= now() - interval '7 days'
                AND h.state = 'success' AND h.end_date IS NOT NULL)::numeric, 3)::float8
           AS runtime_p95_7d_seconds,
       (SELECT h.end_date
        FROM dag_run_history AS h
        WHERE h.airflow_instance = k.airflow_instance AND h.dag_id = k.dag_id
          AND h.state = 'success' AND h.start_date IS NOT NULL
        ORDER BY h.start_date DESC
        LIMIT 1) AS last_success_end,
       coalesce(x.running_runs, 0) AS running_runs,
       s.status
FROM ranked AS k
LEFT JOIN running AS x USING (airflow_instance, dag_id)
LEFT JOIN dag_schedule_status AS s
       ON s.airflow_instance = k.airflow_instance AND s.dag_id = k.dag_id
ORDER BY k.open_alerts DESC, k.troubled DESC, k.success_ratio_7d ASC NULLS LAST,
         k.airflow_instance, k.dag_id
