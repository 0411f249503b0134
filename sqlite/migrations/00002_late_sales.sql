-- +goose Up
-- Late sales (DESIGN.md §4.3): which sales came late, how many masks one took
-- beyond the stock, the correction that made up for it, and when each outlet
-- was suspended, so that a late sale is judged by the state at its sold_at.
ALTER TABLE sales ADD COLUMN late INTEGER NOT NULL DEFAULT 0;
ALTER TABLE sales ADD COLUMN shortfall INTEGER NOT NULL DEFAULT 0;
CREATE INDEX sales_late ON sales (outlet) WHERE late <> 0;

ALTER TABLE corrections ADD COLUMN kind TEXT NOT NULL DEFAULT 'count';
ALTER TABLE corrections ADD COLUMN sale_id TEXT NOT NULL DEFAULT '';
CREATE INDEX corrections_outlet_at ON corrections (outlet, at);

CREATE TABLE suspensions (
    outlet TEXT NOT NULL REFERENCES outlets (code),
    since  INTEGER NOT NULL,
    until  INTEGER,
    PRIMARY KEY (outlet, since)
) WITHOUT ROWID;
-- Outlets suspended before this migration: from their last change on.
INSERT INTO suspensions (outlet, since) SELECT code, COALESCE(updated_at, 0) FROM outlets WHERE suspended <> 0;

-- +goose Down
DROP TABLE suspensions;
DROP INDEX corrections_outlet_at;
ALTER TABLE corrections DROP COLUMN sale_id;
ALTER TABLE corrections DROP COLUMN kind;
DROP INDEX sales_late;
ALTER TABLE sales DROP COLUMN shortfall;
ALTER TABLE sales DROP COLUMN late;
