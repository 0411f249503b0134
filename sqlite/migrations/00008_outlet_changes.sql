-- +goose Up
-- The change feed reads an append-only log instead of an index on
-- outlets (version): an outlet's version changes with every batch that
-- touches it, and the index paid for it with a delete at a random place
-- (its old version) beside the insert at the end, one more randomly placed
-- page per sale in the WAL (about a sixth of a sale's frames, measured).
-- Each new version of an outlet is appended here by the triggers, whatever
-- statement wrote it; an entry whose outlet has moved on is stale, never
-- read by the feed (it joins on the outlet's current version) and deleted
-- by the writer in ranges (sqlite/changes.go). MAX(version) here is the
-- store's latest version.
CREATE TABLE outlet_changes (
    version INTEGER PRIMARY KEY,
    code    TEXT NOT NULL
);
INSERT INTO outlet_changes (version, code) SELECT version, code FROM outlets;
DROP INDEX outlets_version;
-- OR REPLACE: an entry that a later version of the same transaction made
-- stale may hold the version (the renumbering in AddStock).
CREATE TRIGGER outlet_changes_insert AFTER INSERT ON outlets BEGIN
    INSERT OR REPLACE INTO outlet_changes (version, code) VALUES (new.version, new.code); END;
CREATE TRIGGER outlet_changes_update AFTER UPDATE OF version ON outlets WHEN new.version <> old.version BEGIN
    INSERT OR REPLACE INTO outlet_changes (version, code) VALUES (new.version, new.code); END;

-- +goose Down
DROP TRIGGER outlet_changes_update;
DROP TRIGGER outlet_changes_insert;
CREATE INDEX outlets_version ON outlets (version);
DROP TABLE outlet_changes;
