-- Which dag_run ids an incremental extract reads, each arm on an index Airflow has:
-- new runs (ids above the watermark less the recheck margin: primary key), runs in flight
-- (queued, running: Airflow's partial indexes idx_dag_run_queued_dags/_running_dags), and the
-- runs the warehouse holds as unfinished (primary key), which may have finished since.
-- Grain: one row per dag_run id.
-- Params: $1 integer: read ids above this; $2 integer[]: ids the warehouse holds as unfinished.
SELECT id FROM dag_run WHERE id > $1::integer
UNION
SELECT id FROM dag_run WHERE state = 'queued'
UNION
SELECT id FROM dag_run WHERE state = 'running'
UNION
SELECT id FROM dag_run WHERE id = ANY ($2::integer[])
