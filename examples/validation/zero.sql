-- The number zero, to compare counts against.
SELECT 0
