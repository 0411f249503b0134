-- +goose Up
-- Cumulative masks sold per outlet (DESIGN.md §6.7), as in
-- sqlite/migrations/00003_outlet_sold.sql; 64-bit like stock (00004).
ALTER TABLE outlets ADD COLUMN sold BIGINT NOT NULL DEFAULT 0;
UPDATE outlets SET sold = s.n FROM (SELECT outlet, SUM(quantity) AS n FROM sales
    WHERE cancelled_at IS NULL GROUP BY outlet) AS s WHERE s.outlet = outlets.code;

-- +goose Down
ALTER TABLE outlets DROP COLUMN sold;
