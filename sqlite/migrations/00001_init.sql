-- +goose Up
-- Times are Unix microseconds (UTC). Person keys are HMACs; no raw ID is stored.
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
CREATE INDEX outlets_version ON outlets (version);

CREATE TABLE person_weeks (
    person            TEXT NOT NULL,
    week              TEXT NOT NULL,
    quantity          INTEGER NOT NULL,
    purchases         INTEGER NOT NULL,
    weekday_purchases INTEGER NOT NULL,
    weekend_purchases INTEGER NOT NULL,
    PRIMARY KEY (person, week)
) WITHOUT ROWID;
CREATE INDEX person_weeks_week ON person_weeks (week);

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
);
CREATE INDEX sales_outlet_sold ON sales (outlet, sold_at);
CREATE INDEX sales_sold ON sales (sold_at);
CREATE INDEX sales_conflict ON sales (conflict) WHERE conflict <> '';

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
CREATE INDEX deliveries_outlet ON deliveries (outlet);

CREATE TABLE corrections (
    id     TEXT PRIMARY KEY,
    outlet TEXT NOT NULL REFERENCES outlets (code),
    txn_id TEXT NOT NULL,
    count  INTEGER NOT NULL,
    delta  INTEGER NOT NULL,
    at     INTEGER NOT NULL
);
CREATE INDEX corrections_outlet ON corrections (outlet);

CREATE TABLE idempotency (
    outlet     TEXT NOT NULL,
    txn_id     TEXT NOT NULL,
    body_hash  TEXT NOT NULL,
    response   BLOB NOT NULL,
    created_at INTEGER NOT NULL,
    PRIMARY KEY (outlet, txn_id)
) WITHOUT ROWID;
CREATE INDEX idempotency_created ON idempotency (created_at);

CREATE TABLE tokens (
    hash       TEXT PRIMARY KEY,
    role       TEXT NOT NULL,
    outlet     TEXT NOT NULL DEFAULT '',
    created_at INTEGER NOT NULL,
    revoked_at INTEGER
) WITHOUT ROWID;

-- +goose Down
DROP TABLE tokens;
DROP TABLE idempotency;
DROP TABLE corrections;
DROP TABLE deliveries;
DROP TABLE sale_items;
DROP TABLE sales;
DROP TABLE person_weeks;
DROP TABLE outlets;
DROP TABLE meta;
