-- +goose Up
-- Outlet versions come from a sequence taken at the end of each write
-- transaction, no longer from the single outlet_version row, whose lock was
-- held until every such transaction's COMMIT was durable: that made the
-- commits of all ledger nodes one chain, one WAL flush each. Sequence values
-- commit out of order; the change feed therefore reads only up to a
-- watermark that no running transaction can still commit below (see
-- postgres/read.go, "The change feed"). CACHE 1: every nextval goes to the
-- shared sequence, so values follow the order in which they were taken.
CREATE SEQUENCE outlet_version_seq AS BIGINT CACHE 1;
SELECT setval('outlet_version_seq', GREATEST((SELECT v FROM outlet_version WHERE id = 1), (SELECT COALESCE(MAX(version), 0) FROM outlets)) + 1, false);
-- Dropped, not left behind: a binary from before this migration stamping
-- from it beside one using the sequence would hand out the same versions.
DROP TABLE outlet_version;

-- +goose Down
CREATE TABLE outlet_version (
    id INTEGER PRIMARY KEY CHECK (id = 1),
    v  BIGINT NOT NULL
);
INSERT INTO outlet_version (id, v) SELECT 1, GREATEST((SELECT last_value FROM outlet_version_seq), (SELECT COALESCE(MAX(version), 0) FROM outlets));
DROP SEQUENCE outlet_version_seq;
