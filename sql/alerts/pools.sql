-- What the pool_empty alert judges: each instance's pools at its newest catalogue reading
-- (pool_history, migration 0016), and since when each has had no slots as far as the readings
-- show (the first reading after the last one with slots).
-- Grain: one row per (airflow_instance, pool) of the newest reading. Params: none.
SELECT p.airflow_instance,
       p.pool,
       p.slots,
       p.running_slots,
       p.waiting_slots,
       p.read_at,
       CASE WHEN p.slots = 0 THEN
           (SELECT min(z.read_at) FROM pool_history AS z
            WHERE z.airflow_instance = p.airflow_instance AND z.pool = p.pool
              AND z.read_at > coalesce((SELECT max(x.read_at) FROM pool_history AS x
                                        WHERE x.airflow_instance = p.airflow_instance
                                          AND x.pool = p.pool AND x.slots IS DISTINCT FROM 0),
                                       '-infinity'))
       END AS empty_since
FROM pool_history AS p
WHERE p.read_at = (SELECT max(h.read_at) FROM pool_history AS h
                   WHERE h.airflow_instance = p.airflow_instance)
ORDER BY p.airflow_instance, p.pool
