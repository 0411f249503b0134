-- +goose Up
-- Late sales (DESIGN.md §4.3), as in sqlite/migrations/00002_late_sales.sql.
ALTER TABLE sales ADD COLUMN late BOOLEAN NOT NULL DEFAULT FALSE;
ALTER TABLE sales ADD COLUMN shortfall INTEGER NOT NULL DEFAULT 0;
CREATE INDEX sales_late ON sales (outlet) WHERE late;

ALTER TABLE corrections ADD COLUMN kind TEXT NOT NULL DEFAULT 'count';
ALTER TABLE corrections ADD COLUMN sale_id TEXT NOT NULL DEFAULT '';
CREATE INDEX corrections_outlet_at ON corrections (outlet, at);

CREATE TABLE suspensions (
    outlet TEXT NOT NULL REFERENCES outlets (code),
    since  TIMESTAMPTZ NOT NULL,
    until  TIMESTAMPTZ,
    PRIMARY KEY (outlet, since)
);
INSERT INTO suspensions (outlet, since)
    SELECT code, COALESCE(updated_at, 'epoch'::timestamptz) FROM outlets WHERE suspended;

-- +goose Down
DROP TABLE suspensions;
DROP INDEX corrections_outlet_at;
ALTER TABLE corrections DROP COLUMN sale_id;
ALTER TABLE corrections DROP COLUMN kind;
DROP INDEX sales_late;
ALTER TABLE sales DROP COLUMN shortfall;
ALTER TABLE sales DROP COLUMN late;
