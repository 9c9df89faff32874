-- The due times of the lands_by objectives in a range: the local time of each day of an
-- objective's calendar in its time zone (a local time that a daylight-saving change skips is
-- moved forward by the gap, as PostgreSQL reads it), with the previous day's due time, which
-- opens the window of data interval ends judged by this one.
-- Grain: one row per objective and due time. Params: $1 objective labels, $2 local times, $3
-- time zones, $4 the days of the week judged as a bit mask (bit 0 = Monday ... bit 6 =
-- Sunday) (one entry per objective), $5 and $6 the range.
SELECT objective, due_at, window_start
FROM (SELECT o.objective,
             (d::date + o.at) AT TIME ZONE o.zone AS due_at,
             ((d::date - 1) + o.at) AT TIME ZONE o.zone AS window_start,
             extract(isodow FROM d)::int AS dow, o.days
      FROM unnest($1::text[], $2::time[], $3::text[], $4::int[]) AS o (objective, at, zone, days)
      CROSS JOIN LATERAL generate_series((($5::timestamptz AT TIME ZONE o.zone)::date - 1)::timestamp,
                                         (($6::timestamptz AT TIME ZONE o.zone)::date + 1)::timestamp,
                                         interval '1 day') AS d) AS x
WHERE due_at >= $5::timestamptz AND due_at < $6::timestamptz AND (days >> (dow - 1)) & 1 = 1
ORDER BY objective, due_at
