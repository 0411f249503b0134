-- +goose Up
-- No query reads sales by sold_at alone: SalesSince walks sales.seq, the
-- counter's reads go through (outlet, sold_at). SQLite dropped the same
-- index in its 00005. The foreign keys of sales and sale_items stay: they
-- cost a locking look-up per row (a few per cent of PostgreSQL's CPU per
-- sale, scripts/bench-pg.sh with BENCH_AB), and a national ledger keeps
-- the database's own guarantee that no sale names a missing outlet or sale.
DROP INDEX sales_sold;

-- +goose Down
CREATE INDEX sales_sold ON sales (sold_at);
