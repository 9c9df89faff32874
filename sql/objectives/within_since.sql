-- For each DAG of a within objective, the earliest due time to judge again: every judgement due
-- since $8 for a DAG judged anew (new to the objective, the objective changed, or no judging
-- kept); else the first due time of the runs loaded since the last judging ($7), of the
-- judgements not decided yet, and of the runs that never came (slots of dag_schedule_missed due
-- since $8) not judged yet. DAGs with nothing to judge are left out.
-- Grain: one row per (objective, airflow_instance, dag_id) to judge. Params: $1 objective
-- labels, $2 instances, $3 dag ids, $4 delays in seconds, $5 references, $6 whether judged
-- anew (one entry per objective and DAG), $7 the last judging's time, $8 the earliest due time
-- for a DAG judged anew.
WITH pair AS (
    SELECT p.objective, p.airflow_instance, p.dag_id, p.reference, p.anew,
           make_interval(secs => p.seconds) AS delay
    FROM unnest($1::text[], $2::text[], $3::text[], $4::double precision[], $5::text[],
                $6::boolean[]) AS p (objective, airflow_instance, dag_id, seconds, reference, anew)
), undecided AS (
    SELECT o.objective, o.airflow_instance, o.dag_id, min(o.due_at) AS since
    FROM objective_run AS o
    WHERE o.kind = 'within'
      AND (o.status IN ('pending', 'at_risk') OR o.note IN ('still running', 'not landed yet'))
    GROUP BY o.objective, o.airflow_instance, o.dag_id
), missing AS (
    SELECT p.objective, p.airflow_instance, p.dag_id, min(m.due_at) + p.delay AS since
    FROM pair AS p
    JOIN dag_schedule_missed AS m
      ON m.airflow_instance = p.airflow_instance AND m.dag_id = p.dag_id
     AND m.due_at >= $8::timestamptz - p.delay
    WHERE NOT p.anew
      AND NOT EXISTS (SELECT 1 FROM objective_run AS o
                      WHERE o.objective = p.objective AND o.airflow_instance = p.airflow_instance
                        AND o.dag_id = p.dag_id
                        AND o.judged_key = objective_missing_key(m.due_at))
    GROUP BY p.objective, p.airflow_instance, p.dag_id, p.delay
)
SELECT p.objective, p.airflow_instance, p.dag_id,
       CASE WHEN p.anew THEN $8::timestamptz
            ELSE least(CASE p.reference WHEN 'data_interval_end' THEN c.first_interval_end
                                        WHEN 'run_after' THEN c.first_run_after
                                        ELSE c.first_queued END + p.delay,
                       u.since, m.since) END AS since
FROM pair AS p
LEFT JOIN objective_changed_dags($7::timestamptz) AS c
  ON c.airflow_instance = p.airflow_instance AND c.dag_id = p.dag_id
LEFT JOIN undecided AS u
  ON u.objective = p.objective AND u.airflow_instance = p.airflow_instance
 AND u.dag_id = p.dag_id
LEFT JOIN missing AS m
  ON m.objective = p.objective AND m.airflow_instance = p.airflow_instance
 AND m.dag_id = p.dag_id
WHERE p.anew
   OR CASE p.reference WHEN 'data_interval_end' THEN c.first_interval_end
                       WHEN 'run_after' THEN c.first_run_after
                       ELSE c.first_queued END IS NOT NULL
   OR u.since IS NOT NULL OR m.since IS NOT NULL
