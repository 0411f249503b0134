-- +goose Up
-- Each outlet's cumulative count of masks sold (cancelled sales taken back),
-- so that any node reading the change feed can derive a selling rate
-- (DESIGN.md §6.7) without reading the sales.
ALTER TABLE outlets ADD COLUMN sold INTEGER NOT NULL DEFAULT 0;
UPDATE outlets SET sold = COALESCE((SELECT SUM(quantity) FROM sales
    WHERE sales.outlet = outlets.code AND sales.cancelled_at IS NULL), 0);

-- +goose Down
ALTER TABLE outlets DROP COLUMN sold;
