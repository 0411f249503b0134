-- +goose Up
-- Fewer writes per sale (about 7% of PostgreSQL's CPU per sale, measured by
-- scripts/bench-pg.sh with BENCH_AB):
-- - No query reads sales by sold_at alone: SalesSince walks sales.seq, the
--   counter's reads go through (outlet, sold_at). SQLite dropped the same
--   index in its 00005.
-- - The two foreign keys cost a trigger and a locking look-up per row (for
--   each item, a WAL-logged lock on its sale row). The ledger writes a sale
--   in the transaction that holds its outlet's row lock, and its items in
--   the same statement batch as the sale; neither outlets nor sales are ever
--   deleted.
DROP INDEX sales_sold;
ALTER TABLE sale_items DROP CONSTRAINT sale_items_sale_id_fkey;
ALTER TABLE sales DROP CONSTRAINT sales_outlet_fkey;

-- +goose Down
ALTER TABLE sales ADD CONSTRAINT sales_outlet_fkey FOREIGN KEY (outlet) REFERENCES outlets (code);
ALTER TABLE sale_items ADD CONSTRAINT sale_items_sale_id_fkey FOREIGN KEY (sale_id) REFERENCES sales (id);
CREATE INDEX sales_sold ON sales (sold_at);
