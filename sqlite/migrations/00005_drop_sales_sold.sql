-- +goose Up
-- No query reads sales by sold_at alone: verify's SalesSince scans in rowid
-- order, the counter's reads go through (outlet, sold_at), the conflicts
-- list through its partial index. One B-tree insert less per sale.
DROP INDEX sales_sold;

-- +goose Down
CREATE INDEX sales_sold ON sales (sold_at);
