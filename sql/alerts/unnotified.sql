-- Alerts whose opening or resolution was not posted to every route yet (new ones, or a route
-- whose webhook failed), with the routes that already got each (alert_notice) and the details
-- that name the DAGs of a DAG file's alert.
-- Grain: one row per alert to post. Params: none.
SELECT a.alert_id, a.rule, a.airflow_instance, a.subject, a.day, a.opened_at, a.resolved_at,
       a.message, a.details::text AS details,
       a.open_notified_at IS NULL AS open_pending,
       a.resolved_at IS NOT NULL AND a.resolve_notified_at IS NULL AS resolve_pending,
       coalesce((SELECT array_agg(n.route ORDER BY n.route) FROM alert_notice AS n
                 WHERE n.alert_id = a.alert_id AND n.kind = 'open'), '{}') AS open_posted_to,
       coalesce((SELECT array_agg(n.route ORDER BY n.route) FROM alert_notice AS n
                 WHERE n.alert_id = a.alert_id AND n.kind = 'resolve'), '{}') AS resolve_posted_to
FROM alert_history AS a
WHERE a.open_notified_at IS NULL OR (a.resolved_at IS NOT NULL AND a.resolve_notified_at IS NULL)
ORDER BY a.opened_at, a.alert_id
