-- Database roles of publicmask (run with psql as a superuser, on the primary):
--
--   psql -v ON_ERROR_STOP=1 -d publicmask -f roles.sql \
--        [-v schema=publicmask] [-v ledger_password=…] [-v public_password=…]
--
-- publicmask_ledger  owns the schema: ledger nodes read and write it and run
--                    the migrations (at start, or `publicmask migrate`).
-- publicmask_public  reads only what public nodes need: the outlets (the
--                    change feed is their version column), the chain of
--                    epochs (a restored database is told apart) and the schema
--                    version. No person-weeks, sales, tokens or metadata.
--
-- Order on a new database: run this file (roles, schema), then
-- `publicmask migrate --db postgres://publicmask_ledger@…` (or start a ledger
-- node), then run this file again: the grants name tables that the
-- migrations create. It is idempotent; run it again after every upgrade
-- whose migrations add a table public nodes read. Tested by
-- e2e/deploy_standby_test.go (public nodes on a standby under
-- publicmask_public).
\set ON_ERROR_STOP on
\if :{?schema}
\else
\set schema publicmask
\endif

SELECT NOT EXISTS (SELECT 1 FROM pg_roles WHERE rolname = 'publicmask_ledger') AS need_ledger,
       NOT EXISTS (SELECT 1 FROM pg_roles WHERE rolname = 'publicmask_public') AS need_public \gset
\if :need_ledger
CREATE ROLE publicmask_ledger LOGIN;
\endif
\if :need_public
CREATE ROLE publicmask_public LOGIN;
\endif
\if :{?ledger_password}
ALTER ROLE publicmask_ledger PASSWORD :'ledger_password';
\endif
\if :{?public_password}
ALTER ROLE publicmask_public PASSWORD :'public_password';
\endif

-- Ledger nodes take part in no other database; public nodes cannot write,
-- whatever they are asked (a standby refuses writes anyway).
ALTER ROLE publicmask_ledger SET search_path = :"schema";
ALTER ROLE publicmask_public SET search_path = :"schema";
ALTER ROLE publicmask_public SET default_transaction_read_only = on;
ALTER ROLE publicmask_public CONNECTION LIMIT 64;

CREATE SCHEMA IF NOT EXISTS :"schema" AUTHORIZATION publicmask_ledger;
REVOKE ALL ON SCHEMA :"schema" FROM PUBLIC;
GRANT USAGE ON SCHEMA :"schema" TO publicmask_public;
REVOKE CREATE ON SCHEMA public FROM PUBLIC;

-- Grants on the migrated tables (skipped until they exist).
SELECT to_regclass(format('%I.outlets', :'schema')) IS NOT NULL AS migrated \gset
\if :migrated
REVOKE ALL ON ALL TABLES IN SCHEMA :"schema" FROM publicmask_public;
GRANT SELECT ON :"schema".outlets, :"schema".epochs, :"schema".goose_db_version TO publicmask_public;
\else
\echo 'roles.sql: schema' :"schema" 'not migrated yet: run publicmask migrate, then this file again for the grants'
\endif
