-- Planner settings for recomputing many days (a full refresh, a large backfill), for the rest
-- of the transform's transaction.
-- Grain: none (settings only). Params: none.
-- Each model joins its days to the runs on the instance and the computed day. With one Airflow
-- instance, a merge join on the instance alone looks cheap to the planner, and then compares
-- every run with every day (measured: more than 13 minutes for dag_delay_daily at 10M runs
-- and 1,096 days); without merge joins it hashes on (instance, day): one pass over the runs.
SET LOCAL enable_mergejoin = off;
-- No JIT compilation: at 1M runs a full refresh took 4.3-4.6 s without it and 4.9-5.8 s with
-- it (scripts/bench's data, four runs each): compiling costs more than it saves here.
SET LOCAL jit = off;
