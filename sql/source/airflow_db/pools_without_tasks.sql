-- Airflow's pools (slot_pool) when the role may not read task_instance: the slots only (taken
-- and wanted stay 0, so the pool_empty alert cannot see tasks waiting); one JSON array in the
-- shape sql/catalog/record_pools.sql reads. Same for Airflow 2 and 3.
-- Grain: one row. Params: none.
-- Runs against the Airflow metadata database (read-only session), after the catalogue reading.
SELECT coalesce(jsonb_agg(jsonb_build_object(
           'pool', p.pool,
           'slots', p.slots,
           'description', p.description) ORDER BY p.pool), '[]'::jsonb)::text AS pools
FROM slot_pool AS p
