-- Sets a pipewatch.* setting for the current transaction only, so that COPY (which takes no
-- bind parameters) can read a value that was bound as a parameter here.
-- Grain: one row. Params: $1 setting name, $2 value as text.
SELECT set_config($1::text, $2::text, true)
