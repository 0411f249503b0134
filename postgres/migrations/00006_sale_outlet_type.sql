-- +goose Up
-- A sale keeps the outlet type the ledger judged it with, as in
-- sqlite/migrations/00017_sale_outlet_type.sql: verify judges each sale
-- again with it, not with a type the outlet was re-imported with since.
-- '' for the sales recorded before (verify then takes the outlet's
-- current type). A constant default: no row is rewritten.
ALTER TABLE sales ADD COLUMN outlet_type TEXT NOT NULL DEFAULT '';

-- +goose Down
ALTER TABLE sales DROP COLUMN outlet_type;
