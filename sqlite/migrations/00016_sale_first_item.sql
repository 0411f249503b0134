-- +goose Up
-- A sale's first item lives in the sale's own row (item_*), and only the
-- items after it in sale_items (idx 1, 2, …): nearly every sale has one
-- item, its buyer, whose separate row was a second statement, seven more
-- bound values and one more B-tree insert a sale: 4.4% of
-- BenchmarkSaleBatch's instructions a sale (callgrind, whole process) when
-- the rows were left out (BENCHMARKS.md, "Server CPU per sale (13th
-- pass)"); this layout saved 3.0% of them outside the Go runtime ("Server
-- CPU per sale (14th pass)"). item_role is NULL for a sale with no item in
-- its row: those recorded before this migration, whose items are all in
-- sale_items from idx 0, and sales without items. A sale's items are read
-- as its row's item, if any, then its sale_items rows by idx, which reads
-- both forms alike; so the rows recorded before stay as they are, and the
-- migration is five ADD COLUMNs, a change of the schema alone (moving them
-- would rewrite every sale and every item at startup).
ALTER TABLE sales ADD COLUMN item_role TEXT;
ALTER TABLE sales ADD COLUMN item_person TEXT;
ALTER TABLE sales ADD COLUMN item_category TEXT;
ALTER TABLE sales ADD COLUMN item_birth_year INTEGER;
ALTER TABLE sales ADD COLUMN item_quantity INTEGER;

-- +goose Down
-- The rows' items go back to sale_items as idx 0, which no sale recorded
-- since the Up has there.
INSERT INTO sale_items (sale_id, idx, role, person, category, birth_year, quantity)
    SELECT id, 0, item_role, item_person, item_category, item_birth_year, item_quantity
    FROM sales WHERE item_role IS NOT NULL;
ALTER TABLE sales DROP COLUMN item_quantity;
ALTER TABLE sales DROP COLUMN item_birth_year;
ALTER TABLE sales DROP COLUMN item_category;
ALTER TABLE sales DROP COLUMN item_person;
ALTER TABLE sales DROP COLUMN item_role;
