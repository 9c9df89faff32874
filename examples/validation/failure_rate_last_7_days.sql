-- Failed / finished runs over the last 7 days, all DAGs together (NULL when none finished).
SELECT round(count(*) FILTER (WHERE state = 'failed')::numeric
             / nullif(count(*) FILTER (WHERE state IN ('success', 'failed')), 0), 4)
FROM pipewatch.dag_run_history
WHERE coalesce(execution_date, run_after) >= now() - interval '7 days'
