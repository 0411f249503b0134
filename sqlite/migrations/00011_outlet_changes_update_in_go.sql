-- +goose Up
-- Every outlet version the store writes is appended to outlet_changes by
-- the store's own statements (a sale batch's stock updates, AddStock, the
-- upserts: one multi-row append per group), as 00010 did for inserted
-- rows: the update trigger ran a program per updated row, about a third of
-- AddStock's cost in the opening deliveries (BENCHMARKS.md, branch dlv19).
DROP TRIGGER outlet_changes_update;

-- +goose Down
CREATE TRIGGER outlet_changes_update AFTER UPDATE OF version ON outlets WHEN new.version <> old.version BEGIN
    INSERT OR REPLACE INTO outlet_changes (version, code) VALUES (new.version, new.code); END;
