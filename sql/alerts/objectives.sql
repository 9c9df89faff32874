-- What the objective alerts judge: per objective and DAG with a judgement due in the last 8
-- days, the newest decided judgement (met or missed), the first judgement at risk now, the
-- 28-day compliance and error budget (objective_compliance), and the DAG's owners.
-- Grain: one row per (objective, airflow_instance, dag_id). Params: none.
SELECT k.objective, k.airflow_instance, k.dag_id,
       d.status AS last_status, d.due_at AS last_due_at, d.landed_at AS last_landed_at,
       d.minutes_late AS last_minutes_late, d.note AS last_note, d.run_id AS last_run_id,
       r.due_at AS risk_due_at, r.expected_at AS risk_expected_at, r.run_id AS risk_run_id,
       r.note AS risk_note,
       c.due_28d::bigint AS due_28d, c.missed_28d::bigint AS missed_28d, c.error_budget_left,
       c.compliance_28d, c.target,
       coalesce(g.owners, '{}') AS owners
FROM (SELECT DISTINCT objective, airflow_instance, dag_id
      FROM objective_run WHERE due_at > now() - interval '8 days') AS k
LEFT JOIN LATERAL (
    SELECT o.status, o.due_at, o.landed_at, o.minutes_late, o.note, o.run_id
    FROM objective_run AS o
    WHERE o.objective = k.objective AND o.airflow_instance = k.airflow_instance
      AND o.dag_id = k.dag_id AND o.status IN ('met', 'missed')
      AND o.due_at > now() - interval '8 days'
    ORDER BY o.due_at DESC
    LIMIT 1) AS d ON true
LEFT JOIN LATERAL (
    SELECT o.due_at, o.expected_at, o.run_id, o.note
    FROM objective_run AS o
    WHERE o.objective = k.objective AND o.airflow_instance = k.airflow_instance
      AND o.dag_id = k.dag_id AND o.status = 'at_risk'
    ORDER BY o.due_at
    LIMIT 1) AS r ON true
LEFT JOIN objective_compliance AS c
       ON c.objective = k.objective AND c.airflow_instance = k.airflow_instance
      AND c.dag_id = k.dag_id
LEFT JOIN dag_catalog AS g ON g.airflow_instance = k.airflow_instance AND g.dag_id = k.dag_id
ORDER BY k.objective, k.airflow_instance, k.dag_id
