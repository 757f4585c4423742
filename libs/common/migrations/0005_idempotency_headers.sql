-- The headers of a first result that a replay must give again (Location, ETag…), beside its body.
ALTER TABLE idempotency_keys ADD COLUMN headers jsonb;
