-- The migrations already applied, with the checksum they had and the checksum of the text this
-- binary carries for the same version (NULL when this binary has no such migration).
-- Grain: one row per applied migration (version).
-- Params: $1 int[] versions this binary carries, $2 text[] their texts (same order).
SELECT applied.version,
       applied.name,
       applied.checksum_sha256,
       encode(sha256(convert_to(embedded.sql_text, 'UTF8')), 'hex') AS embedded_checksum_sha256
FROM pipewatch_schema_migrations AS applied
LEFT JOIN unnest($1::integer[], $2::text[]) AS embedded (version, sql_text)
       ON embedded.version = applied.version
ORDER BY applied.version
