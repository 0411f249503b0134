-- +goose Up
-- outlets keeps only what sales and deliveries change (stock, suspended,
-- stock_at, updated_at, version, sold) and reg, the id of the outlet's
-- registry fields (name, addr, type, lat, lng) in outlet_registry: ~45
-- bytes a row, ~40 rows a 2 KiB page. Every delivery line and every sale
-- rewrites its outlet's leaf and the WAL carries the whole page: with the
-- registry in the row a leaf held ~4 outlets, so a chunk of 2,000
-- delivery lines (a list's codes are sorted before they are cut) dirtied
-- ~1,700 pages; now a few hundred (BENCHMARKS.md, branch stk19).
--
-- outlet_registry is keyed by an id the writer hands out in order (a
-- rowid), not by code: an import of new outlets appends its registry rows
-- at the table's end, a few pages a chunk, where a second B-tree keyed by
-- code took a randomly placed leaf per new outlet (the import's codes come
-- in no order) beside the one of outlets. Its rows are found through
-- outlets (reg); readers join the two (sqlite/tx.go, outletFrom). code is
-- kept in it for the Down section and for checks.
--
-- outlets is rebuilt, not narrowed with DROP COLUMN: that rewrites each
-- row in place and leaves the pages as many as before, three quarters
-- empty. corrections and suspensions refer to outlets (code), and the
-- writer runs with foreign keys on: dropping the table counts each of
-- their rows as a violation, deferred here, and inserting the same codes
-- into the new outlets counts each one back, so the commit finds none.
-- The copy goes through a temporary table (the writer's temp_store is
-- memory).
PRAGMA defer_foreign_keys = ON;
CREATE TABLE outlet_registry (
    id   INTEGER PRIMARY KEY,
    code TEXT NOT NULL,
    name TEXT NOT NULL,
    addr TEXT NOT NULL,
    type TEXT NOT NULL CHECK (type IN ('01', '02', '03')),
    lat  REAL NOT NULL,
    lng  REAL NOT NULL
);
CREATE TEMP TABLE outlet_state AS SELECT code, row_number() OVER (ORDER BY code) AS reg, name, addr, type, lat, lng,
    stock, suspended, stock_at, updated_at, version, sold FROM outlets;
INSERT INTO outlet_registry (id, code, name, addr, type, lat, lng)
    SELECT reg, code, name, addr, type, lat, lng FROM temp.outlet_state ORDER BY reg;
DROP TABLE outlets;
CREATE TABLE outlets (
    code       TEXT PRIMARY KEY,
    reg        INTEGER NOT NULL,
    stock      INTEGER NOT NULL DEFAULT 0,
    suspended  INTEGER NOT NULL DEFAULT 0,
    stock_at   INTEGER,
    updated_at INTEGER,
    version    INTEGER NOT NULL,
    sold       INTEGER NOT NULL DEFAULT 0
) WITHOUT ROWID;
INSERT INTO outlets (code, reg, stock, suspended, stock_at, updated_at, version, sold)
    SELECT code, reg, stock, suspended, stock_at, updated_at, version, sold FROM temp.outlet_state ORDER BY code;
DROP TABLE temp.outlet_state;

-- +goose Down
PRAGMA defer_foreign_keys = ON;
CREATE TEMP TABLE outlet_state AS SELECT o.code, r.name, r.addr, r.type, r.lat, r.lng, o.stock, o.suspended, o.stock_at, o.updated_at, o.version, o.sold
    FROM outlets o CROSS JOIN outlet_registry r ON r.id = o.reg;
DROP TABLE outlets;
CREATE TABLE outlets (
    code       TEXT PRIMARY KEY,
    name       TEXT NOT NULL,
    addr       TEXT NOT NULL,
    type       TEXT NOT NULL CHECK (type IN ('01', '02', '03')),
    lat        REAL NOT NULL,
    lng        REAL NOT NULL,
    stock      INTEGER NOT NULL DEFAULT 0,
    suspended  INTEGER NOT NULL DEFAULT 0,
    stock_at   INTEGER,
    updated_at INTEGER,
    version    INTEGER NOT NULL,
    sold       INTEGER NOT NULL DEFAULT 0
) WITHOUT ROWID;
INSERT INTO outlets (code, name, addr, type, lat, lng, stock, suspended, stock_at, updated_at, version, sold)
    SELECT code, name, addr, type, lat, lng, stock, suspended, stock_at, updated_at, version, sold FROM temp.outlet_state ORDER BY code;
DROP TABLE temp.outlet_state;
DROP TABLE outlet_registry;
