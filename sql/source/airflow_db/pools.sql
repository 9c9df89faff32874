-- Airflow's pools (slot_pool) with the slots their tasks take (running) and want (scheduled or
-- queued), as Airflow's own pool statistics count them (the tasks' pool_slots), by its index
-- ti_pool (pool, state, ...); one JSON array in the shape sql/catalog/record_pools.sql reads.
-- Same for Airflow 2 and 3. Without a readable task_instance, pools_without_tasks.sql.
-- Grain: one row. Params: none.
-- Runs against the Airflow metadata database (read-only session), after the catalogue reading.
SELECT coalesce(jsonb_agg(jsonb_build_object(
           'pool', p.pool,
           'slots', p.slots,
           'description', p.description,
           'running_slots', (SELECT coalesce(sum(t.pool_slots), 0) FROM task_instance AS t
                             WHERE t.pool = p.pool AND t.state = 'running'),
           'waiting_slots', (SELECT coalesce(sum(t.pool_slots), 0) FROM task_instance AS t
                             WHERE t.pool = p.pool AND t.state IN ('scheduled', 'queued')))
           ORDER BY p.pool), '[]'::jsonb)::text AS pools
FROM slot_pool AS p
