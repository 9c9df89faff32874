-- A window of calendar days in the reporting time zone as one UTC range [start, end): for a
-- REST API source's window extract (backfill).
-- Grain: one row. Params: $1 reporting time zone (IANA name), $2 first day, $3 last day
-- (dates, inclusive).
SELECT ($2::date::timestamp AT TIME ZONE $1::text)         AS starts_at,
       (($3::date + 1)::timestamp AT TIME ZONE $1::text)   AS ends_at
