-- Planner settings for recomputing a few days, for the rest of the transform's transaction.
-- Grain: none (settings only). Params: none.
-- The planner cannot know that each pending day is a narrow range of dag_run_history: it
-- estimates a parameterised range at 0.5 % of the table, and on a large history prefers a hash
-- or merge join over a full scan (measured: 1.2 s instead of 0.05 s for one day at 4M runs).
-- With a bounded number of days, nested loops over the run-instant index are always right.
-- JIT compilation only adds latency to these short statements.
SET LOCAL enable_hashjoin = off;
SET LOCAL enable_mergejoin = off;
SET LOCAL jit = off;
