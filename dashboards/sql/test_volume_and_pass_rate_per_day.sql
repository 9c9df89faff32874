-- Validation test volume (left axis) and pass rate (right axis) per day, last 30 days.
SELECT day::timestamp AS "time", test_executions, pass_rate
FROM pipewatch.validation_daily
WHERE day >= current_date - 30
ORDER BY 1
