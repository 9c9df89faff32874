-- Records one applied migration.
-- Grain: one row per applied migration. Params: $1 version, $2 file name, $3 the file's text
-- (its SHA-256 is stored), $4 the applying invocation's run id.
INSERT INTO pipewatch_schema_migrations (version, name, checksum_sha256, applied_by_run_id)
VALUES ($1, $2, encode(sha256(convert_to($3::text, 'UTF8')), 'hex'), $4)
