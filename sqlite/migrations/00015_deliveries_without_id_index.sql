-- +goose Up
-- deliveries keeps no index of its id. The id was the table's PRIMARY
-- KEY, and SQLite kept it in an index of its own (sqlite_autoindex_
-- deliveries_1) beside the rowid table: one more B-tree insert for every
-- delivery line, about a sixth of the opening deliveries' writer CPU
-- spent in InsertDeliveries (BENCHMARKS.md, branch dlv19f). Nothing reads
-- a delivery by its id: the records are found through
-- deliveries_outlet_txn, the stock by outlet, the purge by rowid. The ids
-- are made unique by the ledger (time-ordered, with 40 random bits), as
-- they were before.
--
-- SQLite cannot drop a PRIMARY KEY with ALTER TABLE, and rebuilding the
-- table would copy every delivery at startup. The schema's text is
-- edited instead, as 00009 did: the table's column loses PRIMARY KEY,
-- and its automatic index becomes, in the schema, the UNIQUE index on
-- (id) it is on disk (the same keys: id, then rowid), which DROP INDEX
-- then frees. All of it runs in the migration's transaction; RESET
-- reloads this connection's schema, and the DROP INDEX changes the schema
-- version, so that every other connection reloads it too.
-- The index is renamed only if the table's text lost its PRIMARY KEY: a
-- text that did not match would otherwise keep the key while its index
-- was dropped (a malformed store); here DROP INDEX then finds no index,
-- and the migration fails and rolls back (review of 00015).
PRAGMA writable_schema = ON;
UPDATE sqlite_schema SET sql = replace(sql, 'id       TEXT PRIMARY KEY,', 'id       TEXT NOT NULL,')
    WHERE type = 'table' AND name = 'deliveries';
UPDATE sqlite_schema SET name = 'deliveries_id', sql = 'CREATE UNIQUE INDEX deliveries_id ON deliveries (id)'
    WHERE type = 'index' AND name = 'sqlite_autoindex_deliveries_1' AND tbl_name = 'deliveries'
      AND (SELECT sql FROM sqlite_schema WHERE type = 'table' AND name = 'deliveries') NOT LIKE '%PRIMARY KEY%';
PRAGMA writable_schema = RESET;
DROP INDEX deliveries_id;

-- +goose Down
-- (Run by hand, in one transaction, and delete version 15's row.)
-- The index made again (a failure here means two deliveries share an id),
-- then given back to the table as its PRIMARY KEY's automatic index.
CREATE UNIQUE INDEX deliveries_id ON deliveries (id);
PRAGMA writable_schema = ON;
UPDATE sqlite_schema SET name = 'sqlite_autoindex_deliveries_1', sql = NULL
    WHERE type = 'index' AND name = 'deliveries_id' AND tbl_name = 'deliveries';
UPDATE sqlite_schema SET sql = replace(sql, 'id       TEXT NOT NULL,', 'id       TEXT PRIMARY KEY,')
    WHERE type = 'table' AND name = 'deliveries';
PRAGMA writable_schema = RESET;
CREATE TABLE deliveries_schema_changed (x);
DROP TABLE deliveries_schema_changed;
