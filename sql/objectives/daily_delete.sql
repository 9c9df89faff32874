-- Deletes the objectives' objective_daily rows of some days, before daily.sql computes them.
-- Grain: objective_daily rows. Params: $1 objective labels, $2 days.
DELETE FROM objective_daily WHERE objective = ANY ($1::text[]) AND day = ANY ($2::date[])
