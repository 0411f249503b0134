-- +goose Up
-- Sales lose their foreign key to outlets, and sale items theirs to sales,
-- as deliveries lost theirs in 00009. With foreign keys on, a multi-row
-- INSERT of a batch's sales made SQLite, for every sale, seek its outlet
-- from the root of outlets (the child's check) and seek its id in
-- sale_items (the parent's side of the items' key, which a multi-row
-- insert runs); and for every item, seek its sale in the sales' id index:
-- three B-tree descents a sale that decide nothing (BENCHMARKS.md, branch
-- cpu12b). The ledger inserts a sale only for the outlet it has locked in
-- the same transaction, and its items with it (the batch's flush writes a
-- sale before its items); outlets and sales are never deleted.
--
-- The tables' texts in the schema are edited as in 00009 (nothing on disk
-- changes; the table made and dropped after RESET changes the schema
-- version, so that every other connection reloads it).
PRAGMA writable_schema = ON;
UPDATE sqlite_schema SET sql = replace(sql, ' REFERENCES outlets (code)', '')
    WHERE type = 'table' AND name = 'sales';
UPDATE sqlite_schema SET sql = replace(sql, ' REFERENCES sales (id)', '')
    WHERE type = 'table' AND name = 'sale_items';
PRAGMA writable_schema = RESET;
CREATE TABLE sales_schema_changed (x);
DROP TABLE sales_schema_changed;

-- +goose Down
PRAGMA writable_schema = ON;
UPDATE sqlite_schema SET sql = replace(sql, 'outlet       TEXT NOT NULL,', 'outlet       TEXT NOT NULL REFERENCES outlets (code),')
    WHERE type = 'table' AND name = 'sales';
UPDATE sqlite_schema SET sql = replace(sql, 'sale_id    TEXT NOT NULL,', 'sale_id    TEXT NOT NULL REFERENCES sales (id),')
    WHERE type = 'table' AND name = 'sale_items';
PRAGMA writable_schema = RESET;
CREATE TABLE sales_schema_changed (x);
DROP TABLE sales_schema_changed;
