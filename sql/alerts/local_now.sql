-- The warehouse's clock in the reporting time zone, for the landing-deadline rule.
-- Grain: one row. Params: $1 reporting time zone (IANA name).
SELECT (now() AT TIME ZONE $1::text) AS local_now
