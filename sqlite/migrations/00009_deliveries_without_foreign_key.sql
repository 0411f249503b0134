-- +goose Up
-- Deliveries lose their foreign key to outlets. SQLite checked it for every
-- row inserted, by opening a cursor on outlets and seeking the code from its
-- root, per row of the multi-row INSERT of a delivery list: ~40% of the
-- CPU of those inserts at 540,000 outlets (BENCHMARKS.md, branch dlv19).
-- The ledger inserts a delivery only for an outlet it has just read or
-- updated in the same transaction (deliverBulk, runStockOp), and outlets
-- are never deleted.
--
-- SQLite cannot drop a constraint with ALTER TABLE; rebuilding the table
-- would copy every delivery (tens of seconds at startup for a store of
-- 540,000). The table's text in the schema is edited instead, the way
-- SQLite's documentation gives for removing a FOREIGN KEY constraint (it
-- does not change what is on disk); RESET reloads this connection's
-- schema, and the table made and dropped after it changes the schema
-- version, so that every other connection reloads it too. All of it runs
-- in the migration's transaction.
PRAGMA writable_schema = ON;
UPDATE sqlite_schema SET sql = replace(sql, ' REFERENCES outlets (code)', '')
    WHERE type = 'table' AND name = 'deliveries';
PRAGMA writable_schema = RESET;
CREATE TABLE deliveries_schema_changed (x);
DROP TABLE deliveries_schema_changed;

-- +goose Down
PRAGMA writable_schema = ON;
UPDATE sqlite_schema SET sql = replace(sql, 'outlet   TEXT NOT NULL,', 'outlet   TEXT NOT NULL REFERENCES outlets (code),')
    WHERE type = 'table' AND name = 'deliveries';
PRAGMA writable_schema = RESET;
CREATE TABLE deliveries_schema_changed (x);
DROP TABLE deliveries_schema_changed;
