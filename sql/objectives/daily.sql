-- Computes objective_daily for some objectives and days (deleted first: daily_delete.sql)
-- from objective_run: judgements
-- decided (met + missed), met, missed, at risk, pending, compliance, and the median and 95th
-- percentile of minutes late over the decided ones (0 for a met one).
-- Grain: one row per (objective, airflow_instance, dag_id, day) with a judgement.
-- Params: $1 objective labels, $2 their target shares, $3 days, $4 run id.
INSERT INTO objective_daily (objective, airflow_instance, dag_id, day, kind, target, due, met,
                             missed, at_risk, pending, compliance, p50_minutes_late,
                             p95_minutes_late, computed_by_run_id)
SELECT o.objective, o.airflow_instance, o.dag_id, o.day, max(o.kind),
       ($2::double precision[])[array_position($1::text[], o.objective)],
       count(*) FILTER (WHERE o.status IN ('met', 'missed')),
       count(*) FILTER (WHERE o.status = 'met'),
       count(*) FILTER (WHERE o.status = 'missed'),
       count(*) FILTER (WHERE o.status = 'at_risk'),
       count(*) FILTER (WHERE o.status = 'pending'),
       (count(*) FILTER (WHERE o.status = 'met'))::double precision
           / nullif(count(*) FILTER (WHERE o.status IN ('met', 'missed')), 0),
       percentile_cont(0.5) WITHIN GROUP (ORDER BY o.minutes_late)
           FILTER (WHERE o.status IN ('met', 'missed')),
       percentile_cont(0.95) WITHIN GROUP (ORDER BY o.minutes_late)
           FILTER (WHERE o.status IN ('met', 'missed')),
       $4::uuid
FROM objective_run AS o
-- The target looked up by position, not joined: a join with the objectives' list was planned
-- as a nested loop over every judgement (20 s at 1,000 objectives).
WHERE o.day = ANY ($3::date[]) AND o.objective = ANY ($1::text[])
GROUP BY o.objective, o.airflow_instance, o.dag_id, o.day
