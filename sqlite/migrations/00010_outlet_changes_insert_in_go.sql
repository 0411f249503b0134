-- +goose Up
-- A new outlet's first version is appended to outlet_changes by the
-- statement that inserts it (SaveOutlet, SaveOutlets: one multi-row
-- append per group of the bulk upsert) instead of by a trigger fired per
-- row: the trigger's program was about a third of the store's CPU in an
-- import of new outlets (BENCHMARKS.md, branch imp19). Changes of existing
-- outlets (sales, deliveries, corrections, upserts of known rows) are still
-- appended by outlet_changes_update.
DROP TRIGGER outlet_changes_insert;

-- +goose Down
CREATE TRIGGER outlet_changes_insert AFTER INSERT ON outlets BEGIN
    INSERT OR REPLACE INTO outlet_changes (version, code) VALUES (new.version, new.code); END;
