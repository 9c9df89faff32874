-- The instants that bound each of some days in the reporting time zone (a day of 23 or 25
-- hours across a daylight-saving change).
-- Grain: one row per day. Params: $1 date[] the days, $2 the reporting time zone.
SELECT d.day,
       d.day::timestamp AT TIME ZONE $2::text       AS starts_at,
       (d.day + 1)::timestamp AT TIME ZONE $2::text AS ends_at
FROM unnest($1::date[]) AS d(day)
ORDER BY d.day
