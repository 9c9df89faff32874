-- Forgets a loaded staged extract once its object was deleted from the stage.
-- Grain: one row of staged_extract. Params: $1 object_key.
DELETE FROM staged_extract WHERE object_key = $1::text AND loaded_at IS NOT NULL
