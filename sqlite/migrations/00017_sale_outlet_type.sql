-- +goose Up
-- A sale keeps the outlet type the ledger judged it with: verify judges
-- every sale again under the rules in force at it (DESIGN.md §4.4), and
-- an outlet re-imported with another type (a pharmacy re-registered as a
-- post office) made it judge the outlet's past sales with the type it has
-- now, reporting legal sales as violations (a pharmacy's Saturday sale
-- as outlet_closed). '' for the sales recorded before, which verify
-- judges with the outlet's current type as it did. A change of the schema
-- alone: no row is rewritten.
ALTER TABLE sales ADD COLUMN outlet_type TEXT NOT NULL DEFAULT '';

-- +goose Down
ALTER TABLE sales DROP COLUMN outlet_type;
