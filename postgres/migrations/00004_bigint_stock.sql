-- +goose Up
-- Stock and the quantities that add up to it are 64-bit, as in SQLite and in
-- Go: many deliveries of up to 100,000 masks each would overflow a 32-bit
-- INTEGER, and the sum would then fail rather than count.
ALTER TABLE outlets ALTER COLUMN stock TYPE BIGINT;
ALTER TABLE deliveries ALTER COLUMN quantity TYPE BIGINT;
ALTER TABLE corrections ALTER COLUMN count TYPE BIGINT;
ALTER TABLE corrections ALTER COLUMN delta TYPE BIGINT;

-- +goose Down
ALTER TABLE corrections ALTER COLUMN delta TYPE INTEGER;
ALTER TABLE corrections ALTER COLUMN count TYPE INTEGER;
ALTER TABLE deliveries ALTER COLUMN quantity TYPE INTEGER;
ALTER TABLE outlets ALTER COLUMN stock TYPE INTEGER;
