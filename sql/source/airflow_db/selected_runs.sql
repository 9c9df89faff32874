-- The start of every task-instance extract query: the DAG runs whose task instances are read,
-- the same runs the DAG-run extract reads in the same snapshot. The extract appends
-- filter_ids.sql (an incremental or window extract) or nothing (a full extract), closes the
-- parenthesis and appends task_instances_*.sql, which joins it.
-- Grain: one row per selected DAG run (dag_id, run_id).
-- Params: setting pipewatch.extract_ids (through filter_ids.sql), set with set_config($1).
WITH selected_runs AS MATERIALIZED (
SELECT dr.dag_id, dr.run_id FROM dag_run AS dr
