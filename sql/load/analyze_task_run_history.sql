-- After a bulk first load of task_run_history: fresh planner statistics, in the load's
-- transaction (see analyze_dag_run_history.sql).
-- Grain: none (statistics). Params: none.
ANALYZE task_run_history
