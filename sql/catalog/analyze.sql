-- After a catalogue reading that wrote many rows (the first reading of a large Airflow): fresh
-- planner statistics, in the reading's transaction, so the next readings and dag_schedule_status
-- are planned for the rows just written (autovacuum would get there later, maybe after them).
-- Grain: none (statistics). Params: none.
ANALYZE dag_catalog, dag_catalog_history, import_error_history
