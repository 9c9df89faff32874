-- 5 %, as a fraction.
SELECT 0.05
