-- +goose Up
-- A delivery line's idempotency record (its body hash and first receipt) is
-- kept in the delivery's own row, written with it, and found through an
-- index on (outlet, txn_id) that takes the place of the one on outlet: the
-- separate record was a row of ~300 bytes and two index entries per line of
-- a delivery list. Deliveries recorded before this migration, and those
-- recorded one by one, keep theirs in the idempotency table (response NULL
-- here).
ALTER TABLE deliveries ADD COLUMN body_hash TEXT NOT NULL DEFAULT '';
ALTER TABLE deliveries ADD COLUMN response BLOB;
CREATE INDEX deliveries_outlet_txn ON deliveries (outlet, txn_id);
DROP INDEX deliveries_outlet;

-- +goose Down
CREATE INDEX deliveries_outlet ON deliveries (outlet);
DROP INDEX deliveries_outlet_txn;
INSERT OR IGNORE INTO idempotency (outlet, txn_id, body_hash, response, created_at)
    SELECT outlet, txn_id, body_hash, response, at FROM deliveries WHERE response IS NOT NULL;
ALTER TABLE deliveries DROP COLUMN response;
ALTER TABLE deliveries DROP COLUMN body_hash;
