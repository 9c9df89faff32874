-- Computes objective_daily for one objective and some days (deleted first: daily_delete.sql)
-- from objective_run: judgements
-- decided (met + missed), met, missed, at risk, pending, compliance, and the median and 95th
-- percentile of minutes late over the decided ones (0 for a met one).
-- Grain: one row per (objective, airflow_instance, dag_id, day) with a judgement.
-- Params: $1 objective label, $2 days, $3 target share, $4 run id.
INSERT INTO objective_daily (objective, airflow_instance, dag_id, day, kind, target, due, met,
                             missed, at_risk, pending, compliance, p50_minutes_late,
                             p95_minutes_late, computed_by_run_id)
SELECT objective, airflow_instance, dag_id, day, max(kind), $3::double precision,
       count(*) FILTER (WHERE status IN ('met', 'missed')),
       count(*) FILTER (WHERE status = 'met'),
       count(*) FILTER (WHERE status = 'missed'),
       count(*) FILTER (WHERE status = 'at_risk'),
       count(*) FILTER (WHERE status = 'pending'),
       (count(*) FILTER (WHERE status = 'met'))::double precision
           / nullif(count(*) FILTER (WHERE status IN ('met', 'missed')), 0),
       percentile_cont(0.5) WITHIN GROUP (ORDER BY minutes_late)
           FILTER (WHERE status IN ('met', 'missed')),
       percentile_cont(0.95) WITHIN GROUP (ORDER BY minutes_late)
           FILTER (WHERE status IN ('met', 'missed')),
       $4::uuid
FROM objective_run
WHERE objective = $1::text AND day = ANY ($2::date[])
GROUP BY objective, airflow_instance, dag_id, day
