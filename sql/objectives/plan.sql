-- Planner settings for judging objectives, for the rest of the transform's transaction: the
-- defaults the day models switch off (plan_for_few_days.sql) are back, since judging joins
-- thousands of DAGs with what changed, which wants hash joins (without them PostgreSQL compared
-- every DAG with every changed DAG: 1.9 s instead of 0.05 s at 10,000 DAGs); JIT off, as
-- compiling these short statements costs more than it saves.
-- Grain: none (settings only). Params: none.
SET LOCAL enable_hashjoin TO DEFAULT;
SET LOCAL enable_mergejoin TO DEFAULT;
SET LOCAL jit = off;
