-- After a bulk first load of dag_run_history: fresh planner statistics, in the load's
-- transaction, so the transform and the next loads are planned for the rows just loaded instead
-- of for an empty table (autovacuum would get there later, maybe during them).
-- Grain: none (statistics). Params: none.
ANALYZE dag_run_history
