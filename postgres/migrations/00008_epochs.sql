-- +goose Up
-- The chain of the store's epochs (publicmask.Epochs, epoch.go): a ledger
-- node appends one before its first write, under the outlet_version lock.
-- Public nodes read it with the change feed to tell a database restored
-- from a backup from the same database, so it lives apart from meta (which
-- they may not read) and is granted to the public role when that role
-- exists (deploy/postgres/roles.sql grants it too).
CREATE TABLE epochs (
    id    INTEGER PRIMARY KEY CHECK (id = 1),
    chain TEXT NOT NULL
);
-- One line: a statement ends on a line ending with ';' (internal/migration).
DO $$ BEGIN IF EXISTS (SELECT 1 FROM pg_roles WHERE rolname = 'publicmask_public') THEN GRANT SELECT ON epochs TO publicmask_public; END IF; END $$;

-- +goose Down
DROP TABLE epochs;
