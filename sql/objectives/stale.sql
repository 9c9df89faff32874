-- Deletes the judgements of one kind that were to be judged again and were not (a run no longer
-- judged: failed now, too little history, a slot whose run came after all): those of each DAG
-- due since its earliest time to judge, not written by this transaction; for runtime, only
-- those of runs that started since then (or are gone), the runs judged again.
-- Grain: objective_run rows deleted; returns one row per day they were due on. Params: $1
-- objective labels, $2 instances, $3 dag ids, $4 earliest times judged (one entry per objective
-- and DAG), $5 the kind.
WITH gone AS MATERIALIZED (
    -- Per DAG (an index range each), then by row address: joined as a whole, PostgreSQL's
    -- estimates went wrong on a table that had just grown (a sort of the whole table, or 26 s
    -- of index lookups at 10,000 DAGs); OFFSET 0 keeps the lateral a lateral.
    SELECT g.tid
    FROM unnest($1::text[], $2::text[], $3::text[], $4::timestamptz[])
        AS p (objective, airflow_instance, dag_id, since)
    CROSS JOIN LATERAL (
        SELECT o.ctid AS tid
        FROM objective_run AS o
        WHERE o.objective = p.objective AND o.airflow_instance = p.airflow_instance
          AND o.dag_id = p.dag_id AND o.due_at >= p.since AND o.kind = $5::text
          AND o.judged_at < now()
          AND ($5::text <> 'runtime'
               OR NOT EXISTS (SELECT 1 FROM dag_run_history AS r
                              WHERE r.airflow_instance = o.airflow_instance
                                AND r.dag_id = o.dag_id AND r.run_id = o.run_id
                                AND r.start_date < p.since))
        OFFSET 0
    ) AS g
), deleted AS (
    DELETE FROM objective_run AS o
    WHERE o.ctid = ANY (ARRAY(SELECT tid FROM gone))
    RETURNING o.day
)
SELECT DISTINCT day FROM deleted
