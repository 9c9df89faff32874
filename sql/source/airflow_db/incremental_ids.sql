-- Which dag_run ids an incremental extract reads, each arm on an index Airflow has:
-- new runs and the re-check (ids above the watermark less the recheck margin: primary key),
-- less the runs the warehouse already holds unchanged (same id, same updated_at); runs in
-- flight (queued, running: Airflow's partial indexes idx_dag_run_queued_dags/_running_dags);
-- and the runs the warehouse holds as unfinished (primary key), which may have finished since.
-- A run whose updated_at is NULL on either side is always read.
-- Grain: one row per dag_run id.
-- Params: $1 integer: read ids above this; $2 integer[]: ids the warehouse holds as unfinished;
-- $3 integer[] and $4 timestamptz[]: id and updated_at of the runs the warehouse holds above $1
-- (same length, element by element).
SELECT d.id FROM dag_run AS d
WHERE d.id > $1::integer
  AND NOT EXISTS (SELECT 1 FROM unnest($3::integer[], $4::timestamptz[]) AS k(id, updated_at)
                  WHERE k.id = d.id AND k.updated_at = d.updated_at)
UNION
SELECT id FROM dag_run WHERE state = 'queued'
UNION
SELECT id FROM dag_run WHERE state = 'running'
UNION
SELECT id FROM dag_run WHERE id = ANY ($2::integer[])
