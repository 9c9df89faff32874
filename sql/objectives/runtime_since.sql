-- For each DAG of a runtime objective, the earliest start of the runs to judge again: every run
-- since $6 for a DAG judged anew (new to the objective, the objective changed, or no judging
-- kept); else the first run loaded since the last judging ($5) or still running when judged (a
-- run's bound depends on the runs before it, so the runs after a changed one are judged again
-- too). DAGs with nothing to judge are left out.
-- Grain: one row per (objective, airflow_instance, dag_id) to judge. Params: $1 objective
-- labels, $2 instances, $3 dag ids, $4 whether judged anew (one entry per objective and DAG),
-- $5 the last judging's time, $6 the earliest start for a DAG judged anew.
WITH pair AS (
    SELECT * FROM unnest($1::text[], $2::text[], $3::text[], $4::boolean[])
        AS p (objective, airflow_instance, dag_id, anew)
), undecided AS (
    SELECT o.objective, o.airflow_instance, o.dag_id, min(r.start_date) AS since
    FROM objective_run AS o
    JOIN dag_run_history AS r
      ON r.airflow_instance = o.airflow_instance AND r.dag_id = o.dag_id AND r.run_id = o.run_id
    WHERE o.kind = 'runtime'
      AND (o.status IN ('pending', 'at_risk') OR o.note IN ('still running', 'not landed yet'))
    GROUP BY o.objective, o.airflow_instance, o.dag_id
)
SELECT p.objective, p.airflow_instance, p.dag_id,
       CASE WHEN p.anew THEN $6::timestamptz ELSE least(c.first_start, u.since) END AS since
FROM pair AS p
LEFT JOIN objective_changed_dags($5::timestamptz) AS c
  ON c.airflow_instance = p.airflow_instance AND c.dag_id = p.dag_id
LEFT JOIN undecided AS u
  ON u.objective = p.objective AND u.airflow_instance = p.airflow_instance
 AND u.dag_id = p.dag_id
WHERE p.anew OR c.first_start IS NOT NULL OR u.since IS NOT NULL
