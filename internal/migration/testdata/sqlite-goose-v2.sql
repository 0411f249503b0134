PRAGMA foreign_keys=OFF;
BEGIN TRANSACTION;
CREATE TABLE goose_db_version (
		id INTEGER PRIMARY KEY AUTOINCREMENT,
		version_id INTEGER NOT NULL,
		is_applied INTEGER NOT NULL,
		tstamp TIMESTAMP DEFAULT (datetime('now'))
	);
INSERT INTO goose_db_version VALUES(1,0,1,'2026-11-30 13:28:14');
INSERT INTO goose_db_version VALUES(2,1,1,'2026-11-30 13:28:14');
INSERT INTO goose_db_version VALUES(3,2,1,'2026-11-30 13:28:14');
CREATE TABLE meta (
    key   TEXT PRIMARY KEY,
    value TEXT NOT NULL
) WITHOUT ROWID;
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
    version    INTEGER NOT NULL
) WITHOUT ROWID;
CREATE TABLE person_weeks (
    person            TEXT NOT NULL,
    week              TEXT NOT NULL,
    quantity          INTEGER NOT NULL,
    purchases         INTEGER NOT NULL,
    weekday_purchases INTEGER NOT NULL,
    weekend_purchases INTEGER NOT NULL,
    PRIMARY KEY (person, week)
) WITHOUT ROWID;
CREATE TABLE sales (
    id           TEXT PRIMARY KEY,
    outlet       TEXT NOT NULL REFERENCES outlets (code),
    txn_id       TEXT NOT NULL,
    sold_at      INTEGER NOT NULL,
    recorded_at  INTEGER NOT NULL,
    week         TEXT NOT NULL,
    weekend      INTEGER NOT NULL,
    quantity     INTEGER NOT NULL,
    conflict     TEXT NOT NULL DEFAULT '',
    cancelled_at INTEGER
, late INTEGER NOT NULL DEFAULT 0, shortfall INTEGER NOT NULL DEFAULT 0);
CREATE TABLE sale_items (
    sale_id    TEXT NOT NULL REFERENCES sales (id),
    idx        INTEGER NOT NULL,
    role       TEXT NOT NULL,
    person     TEXT NOT NULL,
    category   TEXT NOT NULL,
    birth_year INTEGER NOT NULL,
    quantity   INTEGER NOT NULL,
    PRIMARY KEY (sale_id, idx)
) WITHOUT ROWID;
CREATE TABLE deliveries (
    id       TEXT PRIMARY KEY,
    outlet   TEXT NOT NULL REFERENCES outlets (code),
    txn_id   TEXT NOT NULL,
    quantity INTEGER NOT NULL,
    at       INTEGER NOT NULL
);
CREATE TABLE corrections (
    id     TEXT PRIMARY KEY,
    outlet TEXT NOT NULL REFERENCES outlets (code),
    txn_id TEXT NOT NULL,
    count  INTEGER NOT NULL,
    delta  INTEGER NOT NULL,
    at     INTEGER NOT NULL
, kind TEXT NOT NULL DEFAULT 'count', sale_id TEXT NOT NULL DEFAULT '');
CREATE TABLE idempotency (
    outlet     TEXT NOT NULL,
    txn_id     TEXT NOT NULL,
    body_hash  TEXT NOT NULL,
    response   BLOB NOT NULL,
    created_at INTEGER NOT NULL,
    PRIMARY KEY (outlet, txn_id)
) WITHOUT ROWID;
CREATE TABLE tokens (
    hash       TEXT PRIMARY KEY,
    role       TEXT NOT NULL,
    outlet     TEXT NOT NULL DEFAULT '',
    created_at INTEGER NOT NULL,
    revoked_at INTEGER
) WITHOUT ROWID;
CREATE TABLE suspensions (
    outlet TEXT NOT NULL REFERENCES outlets (code),
    since  INTEGER NOT NULL,
    until  INTEGER,
    PRIMARY KEY (outlet, since)
) WITHOUT ROWID;
DELETE FROM sqlite_sequence;
INSERT INTO sqlite_sequence VALUES('goose_db_version',3);
CREATE INDEX outlets_version ON outlets (version);
CREATE INDEX person_weeks_week ON person_weeks (week);
CREATE INDEX sales_outlet_sold ON sales (outlet, sold_at);
CREATE INDEX sales_sold ON sales (sold_at);
CREATE INDEX sales_conflict ON sales (conflict) WHERE conflict <> '';
CREATE INDEX deliveries_outlet ON deliveries (outlet);
CREATE INDEX corrections_outlet ON corrections (outlet);
CREATE INDEX idempotency_created ON idempotency (created_at);
CREATE INDEX sales_late ON sales (outlet) WHERE late <> 0;
CREATE INDEX corrections_outlet_at ON corrections (outlet, at);
COMMIT;
