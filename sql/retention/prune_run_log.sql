-- Deletes pipewatch_run_log rows of stages that started more than the retention ago.
-- Grain: deletes rows of pipewatch_run_log. Params: $1 retention in days.
DELETE FROM pipewatch_run_log WHERE started_at < now() - $1::integer * interval '1 day'
