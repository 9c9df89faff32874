-- Removes the validation model rows of the days about to be recomputed (or of every day).
-- Grain: deletes rows of validation_test_daily and validator_summary_daily.
-- Params: $1 date[] days, $2 boolean: every day instead.
WITH tests AS (
    DELETE FROM validation_test_daily AS d WHERE $2::boolean OR d.day = ANY ($1::date[])
)
DELETE FROM validator_summary_daily AS d WHERE $2::boolean OR d.test_date = ANY ($1::date[])
