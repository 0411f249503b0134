-- +goose Up
-- A sale's idempotency record (its body hash and first answer) is kept in
-- the sale's own row, appended with it, and found through an index on
-- (outlet, txn_id) that takes the place of (outlet, sold_at): the separate
-- record was a large row in a randomly placed page of its own per sale.
-- Deliveries and counts keep the idempotency table, and so do the sales
-- recorded before this migration (response NULL here).
ALTER TABLE sales ADD COLUMN body_hash TEXT NOT NULL DEFAULT '';
ALTER TABLE sales ADD COLUMN response BLOB;
CREATE INDEX sales_outlet_txn ON sales (outlet, txn_id, sold_at);
DROP INDEX sales_outlet_sold;

-- +goose Down
CREATE INDEX sales_outlet_sold ON sales (outlet, sold_at);
DROP INDEX sales_outlet_txn;
INSERT OR IGNORE INTO idempotency (outlet, txn_id, body_hash, response, created_at)
    SELECT outlet, txn_id, body_hash, response, recorded_at FROM sales WHERE response IS NOT NULL;
ALTER TABLE sales DROP COLUMN response;
ALTER TABLE sales DROP COLUMN body_hash;
