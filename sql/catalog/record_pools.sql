-- Records one reading of Airflow's pools into pool_history.
-- $2 is a JSON array of objects with the keys pool, slots, description, running_slots,
-- waiting_slots (sql/source/airflow_db/catalog_airflow2.sql and 3, or the REST API's /pools).
-- Grain: one row per (airflow_instance, read_at, pool). Params: $1 airflow_instance, $2 the
-- reading (JSON text), $3 the Airflow clock at the reading, $4 the invocation's run id.
INSERT INTO pool_history (airflow_instance, read_at, pool, slots, running_slots, waiting_slots,
                          description, loaded_by_run_id)
SELECT $1::text, $3::timestamptz, p.pool, p.slots, coalesce(p.running_slots, 0),
       coalesce(p.waiting_slots, 0), p.description, $4::uuid
FROM jsonb_to_recordset(coalesce($2::text, '[]')::jsonb) AS p(
    pool text, slots integer, description text, running_slots bigint, waiting_slots bigint)
WHERE p.pool IS NOT NULL
ON CONFLICT (airflow_instance, read_at, pool) DO NOTHING
