-- The session settings of the metrics' connections: no JIT (the per-DAG subqueries make the
-- planner's cost estimate large enough for it, and compiling takes longer than the whole read),
-- and the prepared statements planned once, when prepared while the command runs, not again at
-- each run (the schedule status view they read takes milliseconds to plan).
-- Grain: none (settings). Params: none.
SET jit = off;
SET plan_cache_mode = force_generic_plan;
