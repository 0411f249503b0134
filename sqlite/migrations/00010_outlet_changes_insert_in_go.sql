-- +goose Up
-- An outlet's version written by an upsert (SaveOutlet, SaveOutlets: one
-- multi-row append per group of the bulk upsert) is appended to
-- outlet_changes by the store's own statement instead of by a trigger
-- fired per inserted row: the trigger's program was about a third of the
-- store's CPU in an import of new outlets (BENCHMARKS.md, branch imp19).
-- Changes of existing rows by other statements (sales, deliveries,
-- corrections, suspensions) are still appended by outlet_changes_update.
DROP TRIGGER outlet_changes_insert;

-- +goose Down
CREATE TRIGGER outlet_changes_insert AFTER INSERT ON outlets BEGIN
    INSERT OR REPLACE INTO outlet_changes (version, code) VALUES (new.version, new.code); END;
