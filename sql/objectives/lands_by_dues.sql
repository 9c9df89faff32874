-- The due times of a lands_by objective in a range: the local time of each day of its calendar
-- in its time zone (a local time that a daylight-saving change skips is moved forward by the
-- gap, as PostgreSQL reads it), with the previous day's due time, which opens the window of
-- data interval ends judged by this one.
-- Grain: one row per due time. Params: $1 and $2 the range, $3 the local time, $4 the time
-- zone, $5 the ISO days of the week judged (1 = Monday).
SELECT due_at, window_start
FROM (SELECT (d::date + $3::time) AT TIME ZONE $4::text AS due_at,
             ((d::date - 1) + $3::time) AT TIME ZONE $4::text AS window_start,
             extract(isodow FROM d)::int AS dow
      FROM generate_series((($1::timestamptz AT TIME ZONE $4::text)::date - 1)::timestamp,
                           (($2::timestamptz AT TIME ZONE $4::text)::date + 1)::timestamp,
                           interval '1 day') AS d) AS x
WHERE due_at >= $1::timestamptz AND due_at < $2::timestamptz AND dow = ANY ($5::int[])
ORDER BY due_at
